import type { Database } from '@orders/db';
import type { Envelope, EventBus } from '@orders/events';
import { type Kysely, sql } from 'kysely';

export interface Outbox {
  /** Writes the events in the caller's transaction (or statement). */
  write(trx: Kysely<Database>, events: readonly Envelope[]): Promise<void>;
  /**
   * Publishes events whose rows have committed and marks them sent. Never throws: a failed
   * publish leaves the rows unsent for the relay, and reports false.
   */
  publishCommitted(events: readonly Envelope[]): Promise<boolean>;
  /**
   * Publishes rows left unsent (a crash or failed publish after commit), oldest first.
   * Safe to run concurrently: each batch locks its rows with `FOR UPDATE SKIP LOCKED`.
   * Returns how many rows it published.
   */
  relay(options?: { batchSize?: number; minAgeMs?: number }): Promise<number>;
}

/** The rows that carry `events`, for callers that write them inside a larger statement. */
export function outboxRows(events: readonly Envelope[]) {
  return events.map((event) => ({ id: event.id, event: JSON.stringify(event) }));
}

export function createOutbox(
  db: Kysely<Database>,
  bus: EventBus,
  onPublishError: (error: unknown, events: readonly Envelope[]) => void = () => {},
): Outbox {
  async function markSent(executor: Kysely<Database>, ids: string[]) {
    await executor
      .updateTable('outbox')
      .set({ sent_at: sql<Date>`now()` })
      .where('id', '=', sql<string>`any(${ids}::uuid[])`)
      .where('sent_at', 'is', null)
      .execute();
  }

  return {
    async write(trx, events) {
      if (events.length > 0) await trx.insertInto('outbox').values(outboxRows(events)).execute();
    },

    async publishCommitted(events) {
      if (events.length === 0) return true;
      try {
        await bus.publish(events);
        await markSent(
          db,
          events.map((event) => event.id),
        );
        return true;
      } catch (error) {
        onPublishError(error, events);
        return false;
      }
    },

    async relay({ batchSize = 100, minAgeMs = 5_000 } = {}) {
      let published = 0;
      for (;;) {
        const count = await db.transaction().execute(async (trx) => {
          // Rows younger than minAgeMs are normally being published by their writer.
          const rows = await trx
            .selectFrom('outbox')
            .select(['id', 'event'])
            .where('sent_at', 'is', null)
            .where('created_at', '<=', sql<Date>`now() - make_interval(secs => ${minAgeMs / 1000})`)
            .orderBy('created_at')
            .limit(batchSize)
            .forUpdate()
            .skipLocked()
            .execute();
          if (rows.length === 0) return 0;
          await bus.publish(rows.map((row) => row.event as unknown as Envelope));
          await markSent(
            trx,
            rows.map((row) => row.id),
          );
          return rows.length;
        });
        published += count;
        if (count < batchSize) return published;
      }
    },
  };
}
