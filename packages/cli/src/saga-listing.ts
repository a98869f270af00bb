import type { Database } from '@orders/db';
import { type Kysely, sql } from 'kysely';

/** One saga as `sagas list` shows it, with the total of its order. */
export interface SagaListing {
  orderId: string;
  status: string;
  version: number;
  correlationId: string;
  /** When the saga wakes up by itself (ISO, UTC); null when it waits for nothing. */
  deadlineAt: string | null;
  updatedAt: string;
  /** Why it is in its status: the note of the transition that brought it there, if any. */
  reason: string | null;
  /** Failures of a compensation so far, and the last one's message. */
  failedAttempts: number;
  lastError: string | null;
  /** Payment outcomes the saga set aside (another payment's): 0 for none. */
  setAside: number;
  /** From the order row; null when the saga has none (it should always have one). */
  totalMinor: number | null;
  currency: string | null;
}

export interface ListSagasOptions {
  /** The saga type (`order`). */
  type: string;
  status?: string | undefined;
  limit: number;
}

// A saga may repeat its status (a refund asked again); the reason is that of the move into it.
const statusReason = sql<string | null>`(
  select t.note from saga_transitions t
  where t.saga_id = s.id and t.to_status = s.status and t.from_status is distinct from t.to_status
  order by t.version desc
  limit 1
)`;

/** The sagas of `type` (in `status`), most recently changed first. */
export async function listSagas(
  db: Kysely<Database>,
  { type, status, limit }: ListSagasOptions,
): Promise<SagaListing[]> {
  const rows = await db
    .selectFrom('sagas as s')
    .leftJoin('orders as o', 'o.id', 's.id')
    .select([
      's.id',
      's.status',
      's.version',
      's.correlation_id',
      's.deadline_at',
      's.updated_at',
      's.failed_attempts',
      's.last_error',
      'o.total_minor',
      'o.currency',
      statusReason.as('reason'),
      sql<number>`coalesce((s.state->>'setAside')::int, 0)`.as('set_aside'),
    ])
    .where('s.type', '=', type)
    .$if(status !== undefined, (query) => query.where('s.status', '=', status!))
    .orderBy('s.updated_at', 'desc')
    .orderBy('s.id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    orderId: row.id,
    status: row.status,
    version: row.version,
    correlationId: row.correlation_id,
    deadlineAt: row.deadline_at?.toISOString() ?? null,
    updatedAt: row.updated_at.toISOString(),
    reason: row.reason,
    failedAttempts: row.failed_attempts,
    lastError: row.last_error,
    setAside: row.set_aside,
    totalMinor: row.total_minor,
    currency: row.currency,
  }));
}
