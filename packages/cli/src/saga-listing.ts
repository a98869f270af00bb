import type { Database } from '@orders/db';
import { isOverdue, overdueSecondsOf, readSagaGauges } from '@orders/ordering';
import { type Kysely, sql } from 'kysely';

/** One saga as `sagas list` shows it, with the total of its order. */
export interface SagaListing {
  orderId: string;
  status: string;
  version: number;
  correlationId: string;
  /** When the saga wakes up by itself (ISO, UTC); null when it waits for nothing. */
  deadlineAt: string | null;
  /**
   * How long ago its deadline passed, by the database's clock, when it is overdue (more
   * than SAGA_OVERDUE_SECONDS ago, and housekeeping has not woken it: whole seconds); null
   * when it is not.
   */
  overdueSeconds: number | null;
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
  /** Why the order was cancelled (`out_of_stock`, `payment_declined`, `payment_timeout`). */
  cancelReason: string | null;
}

/** The sagas an operator looks at first: parked ones, and those housekeeping has not woken. */
export interface SagaHealth {
  /** In NEEDS_ATTENTION: waiting for an operator (`pnpm sagas retry`). */
  parked: number;
  /** Overdue (SAGA_OVERDUE_SECONDS past their deadline): not woken yet (is housekeeping running?). */
  overdue: number;
  /** The longest any overdue saga has waited past its deadline (whole seconds); null for none. */
  oldestOverdueSeconds: number | null;
}

export interface ListSagasOptions {
  /** The saga type (`order`). */
  type: string;
  status?: string | undefined;
  /** Only the overdue sagas. */
  overdue?: boolean;
  /** SAGA_OVERDUE_SECONDS: how long past its deadline a saga is overdue. */
  overdueGraceSeconds: number;
  limit: number;
}

// A saga may repeat its status (a refund asked again); the reason is that of the move into it.
const statusReason = sql<string | null>`(
  select t.note from saga_transitions t
  where t.saga_id = s.id and t.to_status = s.status and t.from_status is distinct from t.to_status
  order by t.version desc
  limit 1
)`;

/** The sagas of `type` (in `status`, overdue), most recently changed first. */
export async function listSagas(
  db: Kysely<Database>,
  { type, status, overdue = false, overdueGraceSeconds, limit }: ListSagasOptions,
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
      'o.cancel_reason',
      overdueSecondsOf(overdueGraceSeconds, 's.deadline_at').as('overdue_seconds'),
      statusReason.as('reason'),
      sql<number>`coalesce((s.state->>'setAside')::int, 0)`.as('set_aside'),
    ])
    .where('s.type', '=', type)
    .$if(status !== undefined, (query) => query.where('s.status', '=', status!))
    .$if(overdue, (query) => query.where(isOverdue(overdueGraceSeconds, 's.deadline_at')))
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
    overdueSeconds: row.overdue_seconds,
    updatedAt: row.updated_at.toISOString(),
    reason: row.reason,
    failedAttempts: row.failed_attempts,
    lastError: row.last_error,
    setAside: row.set_aside,
    totalMinor: row.total_minor,
    currency: row.currency,
    cancelReason: row.cancel_reason,
  }));
}

/**
 * How many order sagas are parked, and how many overdue, by the database's clock: what
 * housekeeping's gauges count (`readSagaGauges`).
 */
export async function sagaHealth(
  db: Kysely<Database>,
  { overdueGraceSeconds }: { overdueGraceSeconds: number },
): Promise<SagaHealth> {
  const gauges = await readSagaGauges(db, { overdueGraceSeconds });
  return {
    parked: gauges.needingAttention,
    overdue: gauges.overdue,
    oldestOverdueSeconds: gauges.oldestOverdueSeconds,
  };
}
