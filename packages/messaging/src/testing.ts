import type { Database } from '@orders/db';
import { type Envelope, type EventType, producerOf } from '@orders/events';
import type { Kysely } from 'kysely';
import { outboxRows } from './outbox';

/**
 * What tests need of messaging and production code does not: `@orders/messaging/testing`.
 * Writes unsent outbox rows for `events`, as the store of each one's producer (the one that
 * may emit its type) writes them with its effects, for a test that plants rows for the relay
 * or the checker. `db` may be a transaction.
 */
export async function insertOutboxRows(
  db: Kysely<Database>,
  events: readonly Envelope[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.flatMap((event) => outboxRows(producerOf(event.type as EventType), [event]));
  await db.insertInto('outbox').values(rows).execute();
}
