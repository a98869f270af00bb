import type { Database } from '@orders/db';
import type { Kysely } from 'kysely';

/**
 * Claims `(consumer, eventId)` in the caller's transaction. True: this is the first
 * delivery, go on and apply its effects in the same transaction. False: an earlier
 * delivery already committed its effects, do nothing.
 *
 * WARNING: call it inside the transaction that writes the effects, never on its own:
 * claim and effects must commit or roll back together. A concurrent duplicate blocks on the
 * primary key until the first transaction ends, then sees the claim (or, if the first
 * rolled back, takes it), so only one copy ever commits effects.
 */
export async function claimEvent(
  trx: Kysely<Database>,
  consumer: string,
  eventId: string,
): Promise<boolean> {
  const claimed = await trx
    .insertInto('processed_events')
    .values({ consumer, event_id: eventId })
    .onConflict((conflict) => conflict.columns(['consumer', 'event_id']).doNothing())
    .returning('event_id')
    .executeTakeFirst();
  return claimed !== undefined;
}
