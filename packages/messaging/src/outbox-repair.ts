import type { Database } from '@orders/db';
import { type Kysely, sql } from 'kysely';
import { publishable } from './outbox';

/** What `retryOutboxRow` did. */
export type OutboxRetry =
  | { kind: 'not-found' }
  /** Every route has taken it: nothing to publish. */
  | { kind: 'sent' }
  /** Set aside, and it still fails the relay's rule: left as it is. */
  | { kind: 'still-refused'; reason: string }
  /** Set aside before (`was`), and it now passes the relay's rule: the relay judges it again. */
  | { kind: 'released'; was: string | null }
  /** Unsent and waiting (backing off): due at once for the relay. */
  | { kind: 'due' };

/**
 * An operator's retry of one outbox row (`pnpm outbox retry`), for the relay to publish at its
 * next run: a set-aside row is released only if it now passes the rule every row is published
 * by (its producer recorded, its envelope valid, a type its producer may emit); an unsent one
 * stops backing off. A released row is owed from then (`requeued_at`: the outbox age gauge
 * reads it; `created_at` stays when it was written). A sent row, or one that still fails the
 * rule, is left alone. The row is locked while it is judged, so the relay cannot be
 * publishing it meanwhile. With `dryRun`, the row is judged the same way and left as it is.
 */
export async function retryOutboxRow(
  db: Kysely<Database>,
  id: string,
  { dryRun = false }: { dryRun?: boolean } = {},
): Promise<OutboxRetry> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('outbox')
      .select(['event', 'producer', 'sent_at', 'set_aside_at', 'set_aside_reason'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { kind: 'not-found' };
    if (row.sent_at !== null) return { kind: 'sent' };
    const verdict = publishable(row.event, row.producer);
    if (row.set_aside_at !== null) {
      if ('refusal' in verdict) return { kind: 'still-refused', reason: verdict.refusal };
      if (dryRun) return { kind: 'released', was: row.set_aside_reason };
      await sql`
        update outbox set set_aside_at = null, set_aside_reason = null, next_attempt_at = null,
          requeued_at = now()
        where id = ${id}::uuid`.execute(trx);
      return { kind: 'released', was: row.set_aside_reason };
    }
    if (dryRun) return { kind: 'due' };
    await sql`update outbox set next_attempt_at = null where id = ${id}::uuid`.execute(trx);
    return { kind: 'due' };
  });
}
