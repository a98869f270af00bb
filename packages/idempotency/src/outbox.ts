import type { Database } from '@orders/db';
import type { Envelope, EventBus } from '@orders/events';
import { type Kysely, type RawBuilder, sql } from 'kysely';

export interface Outbox {
  /**
   * Writes the events in the caller's transaction (or statement). Write them in the last
   * statement before COMMIT: a row's age, which the relay waits for before it publishes,
   * counts from its insert.
   */
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

/**
 * The INSERT of the rows that carry `events` (at least one), for a caller to run on its own
 * or inside a larger statement (a data-modifying `WITH`).
 */
export function outboxInsert(events: readonly Envelope[]): RawBuilder<unknown> {
  const rows = outboxRows(events).map((row) => sql`(${row.id}::uuid, ${row.event}::jsonb)`);
  return sql`insert into outbox (id, event) values ${sql.join(rows)}`;
}

export function createOutbox(
  db: Kysely<Database>,
  bus: EventBus,
  onPublishError: (error: unknown, events: readonly Envelope[]) => void = () => {},
): Outbox {
  // WARNING: the mark commits without waiting for its WAL flush (synchronous_commit off for
  // this statement's transaction only): a mark lost in a server crash only makes the relay
  // publish those events again, and consumers ignore the duplicates (their inbox).
  async function markSent(executor: Kysely<Database>, ids: string[]) {
    await sql`
      with relaxed as (select set_config('synchronous_commit', 'off', true))
      update outbox set sent_at = now()
      from relaxed
      where id = any(${ids}::uuid[]) and sent_at is null`.execute(executor);
  }

  // Rows published by concurrent requests are marked in one statement (one commit) while
  // the previous one runs; each caller still waits for its own rows.
  const markCommittedSent = groupedCalls((ids: string[]) => markSent(db, ids));

  return {
    async write(trx, events) {
      if (events.length > 0) await outboxInsert(events).execute(trx);
    },

    async publishCommitted(events) {
      if (events.length === 0) return true;
      try {
        await bus.publish(events);
        await markCommittedSent(events.map((event) => event.id));
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

/**
 * Calls `run` at once for the first caller; callers arriving while it runs are queued and
 * served together by the next call, as a database groups commits. Each caller's promise
 * settles with the call that included its items.
 */
function groupedCalls<T>(run: (items: T[]) => Promise<void>): (items: T[]) => Promise<void> {
  let queued: T[] = [];
  let waiting: { resolve(): void; reject(error: unknown): void }[] = [];
  let running = false;

  async function drain() {
    running = true;
    while (queued.length > 0) {
      const items = queued;
      const callers = waiting;
      queued = [];
      waiting = [];
      try {
        await run(items);
        for (const caller of callers) caller.resolve();
      } catch (error) {
        for (const caller of callers) caller.reject(error);
      }
    }
    running = false;
  }

  return (items) =>
    new Promise<void>((resolve, reject) => {
      queued.push(...items);
      waiting.push({ resolve, reject });
      if (!running) void drain();
    });
}
