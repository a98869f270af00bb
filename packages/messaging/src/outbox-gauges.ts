import type { Database } from '@orders/db';
import { type Kysely, sql } from 'kysely';

/** How far the outbox is behind, by the database's clock (housekeeping logs it each tick). */
export interface OutboxGauges {
  /** Rows the relay still owes a topic (neither sent nor set aside). */
  unsent: number;
  /**
   * How long the relay has owed the longest-owed of them: since it was written, or since it
   * was handed back (`requeued_at`: released from set-aside, or re-driven); 0 when
   * there is none.
   */
  oldestUnsentAgeSeconds: number;
  /** Rows set aside: they can never be published and wait for an operator. */
  setAside: number;
}

/** One read of the unsent rows (few: the partial index outbox_unsent finds the owed ones). */
export async function readOutboxGauges(db: Kysely<Database>): Promise<OutboxGauges> {
  const { rows } = await sql<OutboxGauges>`
    select
      count(*) filter (where set_aside_at is null)::int as "unsent",
      coalesce(greatest(0, floor(extract(epoch from
        now() - min(coalesce(requeued_at, created_at)) filter (where set_aside_at is null)))), 0)::int
        as "oldestUnsentAgeSeconds",
      count(*) filter (where set_aside_at is not null)::int as "setAside"
    from outbox
    where sent_at is null`.execute(db);
  return rows[0]!;
}
