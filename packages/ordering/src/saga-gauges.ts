import type { Database } from '@orders/db';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type OrderSagaStatus, orderSagaStatuses, orderSagaType } from './order-saga';

/**
 * The one definition of an overdue saga: its deadline passed more than `graceSeconds` ago,
 * by the database's clock. `deadline` names the column (`deadline_at`, or `s.deadline_at`);
 * the index sagas_due serves it.
 */
export function isOverdue(graceSeconds: number, deadline = 'deadline_at'): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(deadline)} < now() - make_interval(secs => ${graceSeconds})`;
}

/** How long ago an overdue saga's deadline passed (whole seconds); null when it is not overdue. */
export function overdueSecondsOf(
  graceSeconds: number,
  deadline = 'deadline_at',
): RawBuilder<number | null> {
  return sql<number | null>`case when ${isOverdue(graceSeconds, deadline)}
    then floor(extract(epoch from now() - ${sql.ref(deadline)}))::int end`;
}

/** The order sagas an operator watches, by the database's clock (housekeeping logs it each tick). */
export interface SagaGauges {
  /** Overdue sagas (`isOverdue`): the sweep is not moving them. */
  overdue: number;
  /** The longest any overdue saga has waited past its deadline (whole seconds); null for none. */
  oldestOverdueSeconds: number | null;
  /** Sagas parked in NEEDS_ATTENTION, waiting for an operator. */
  needingAttention: number;
  /**
   * Sagas not yet settled, by status: those waiting for a deadline (a payment, a refund's
   * answer) and the parked ones. Every status is there, 0 when none, so that a gauge falls
   * back to 0 instead of going silent. Settled sagas are not counted: they grow with every
   * order, and the warehouse counts outcomes.
   */
  waitingByStatus: Record<OrderSagaStatus, number>;
}

const parked: OrderSagaStatus = 'NEEDS_ATTENTION';

/**
 * Reads the gauges through the indexes sagas_due and sagas_status: never every saga.
 * `overdueGraceSeconds` is SAGA_OVERDUE_SECONDS.
 */
export async function readSagaGauges(
  db: Kysely<Database>,
  { overdueGraceSeconds }: { overdueGraceSeconds: number },
): Promise<SagaGauges> {
  const [overdue, waiting] = await Promise.all([
    sql<{ n: number; oldest: number | null }>`
      select count(*)::int as n,
        floor(extract(epoch from now() - min(deadline_at)))::int as oldest
      from sagas
      where type = ${orderSagaType} and ${isOverdue(overdueGraceSeconds)}`.execute(db),
    sql<{ status: OrderSagaStatus; n: number }>`
      select status, count(*)::int as n from sagas
      where type = ${orderSagaType} and deadline_at is not null
      group by status
      union all
      select status, count(*)::int from sagas
      where type = ${orderSagaType} and status = ${parked} and deadline_at is null
      group by status`.execute(db),
  ]);
  const waitingByStatus = Object.fromEntries(
    orderSagaStatuses.map((status) => [status, 0]),
  ) as Record<OrderSagaStatus, number>;
  for (const { status, n } of waiting.rows) waitingByStatus[status] += n;
  return {
    overdue: overdue.rows[0]!.n,
    oldestOverdueSeconds: overdue.rows[0]!.oldest,
    needingAttention: waitingByStatus[parked],
    waitingByStatus,
  };
}
