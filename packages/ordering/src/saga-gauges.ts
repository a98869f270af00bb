import type { Database } from '@orders/db';
import { type Kysely, sql } from 'kysely';
import { type OrderSagaStatus, orderSagaStatuses, orderSagaType } from './order-saga';

/** The order sagas an operator watches, by the database's clock (housekeeping logs it each tick). */
export interface SagaGauges {
  /** Sagas whose deadline passed more than `overdueSeconds` ago: the sweep is not moving them. */
  overdue: number;
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

/** Reads the gauges through the indexes sagas_due and sagas_status: never every saga. */
export async function readSagaGauges(
  db: Kysely<Database>,
  { overdueSeconds }: { overdueSeconds: number },
): Promise<SagaGauges> {
  const [overdue, waiting] = await Promise.all([
    sql<{ n: number }>`
      select count(*)::int as n from sagas
      where type = ${orderSagaType}
        and deadline_at < now() - make_interval(secs => ${overdueSeconds})`.execute(db),
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
    needingAttention: waitingByStatus[parked],
    waitingByStatus,
  };
}
