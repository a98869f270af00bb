import type { Database } from '@orders/db';
import { runInTrace } from '@orders/messaging';
import {
  childSpan,
  type Logger,
  messageOf,
  parseTraceContext,
  type TraceContext,
  traceFields,
} from '@orders/platform';
import { CompensationRetryError } from '@orders/saga-engine';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { createOrderSaga, type OrderSagaOptions, orderSagaType } from './order-saga';
import type { OrderSagaEngine } from './order-saga-engine';

/**
 * An operator resumes a parked saga (`pnpm sagas retry`): the saga gets the input
 * `RetryRequested`, which its definition decides like any other (release the stock it owes,
 * ask for its unconfirmed refund again) and the order store carries out in one unit of work.
 */
const retry = { type: 'RetryRequested' } as const;

/** What a retry would do to a saga, decided as the saga decides (or why it would not). */
export type SagaRetryPlan =
  | { kind: 'refused'; reason: string }
  | {
      kind: 'retry';
      /** The saga's version now: the retry applies only if it is still there. */
      version: number;
      from: string;
      to: string;
      /** The compensations it tries again (`ReleaseStock`). */
      compensations: string[];
      /** The events it would emit (`RefundRequested`), which the outbox relay publishes. */
      events: string[];
      deadlineAt: Date | null;
      note: string | undefined;
      /** The trace of the work that last moved the saga: the retry continues it. */
      trace: TraceContext | undefined;
    };

/**
 * What retrying the saga of order `orderId` would do, by the database's clock and the saga's
 * own decisions: nothing is written. `options` are the saga's settings (the refund deadline).
 */
export async function planSagaRetry(
  db: Kysely<Database>,
  orderId: string,
  options: OrderSagaOptions,
): Promise<SagaRetryPlan> {
  const saga = createOrderSaga(options);
  const { rows } = await sql<{
    now: Date;
    status: string | null;
    version: number;
    definition_version: number;
    state: unknown;
    traceparent: string | null;
  }>`
    select now() as now, s.status, s.version, s.definition_version, s.state, s.traceparent
    from (select) as clock
    left join sagas s on s.id = ${orderId}::uuid and s.type = ${orderSagaType}`.execute(db);
  const row = rows[0]!;
  if (row.status === null) return { kind: 'refused', reason: `no saga for order ${orderId}` };
  if (row.status !== 'NEEDS_ATTENTION') {
    return {
      kind: 'refused',
      reason: `the saga of order ${orderId} is ${row.status}, not parked (NEEDS_ATTENTION): nothing to retry`,
    };
  }
  if (row.definition_version > saga.version) {
    return {
      kind: 'refused',
      reason: `the saga of order ${orderId} was saved by version ${row.definition_version} of the order saga; this is version ${saga.version}: retry it with the newer release`,
    };
  }
  let state: ReturnType<typeof saga.parseState>;
  try {
    state =
      row.definition_version < saga.version && saga.upgrade
        ? saga.upgrade(row.state, row.definition_version)
        : saga.parseState(row.state);
  } catch (error) {
    return {
      kind: 'refused',
      reason: `the state of the saga of order ${orderId} cannot be read: ${messageOf(error)}`,
    };
  }
  const outcome = saga.decide(state, retry, { now: row.now });
  if (outcome.kind !== 'decision') {
    return {
      kind: 'refused',
      reason: `the saga of order ${orderId} does not retry: ${'note' in outcome ? outcome.note : outcome.reason}`,
    };
  }
  return {
    kind: 'retry',
    version: row.version,
    from: row.status,
    to: outcome.state.status,
    compensations: outcome.intents
      .filter((intent) => intent.kind === 'ReleaseStock')
      .map((intent) => intent.kind),
    events: outcome.events.map((event) => event.type),
    deadlineAt: outcome.deadlineAt,
    note: outcome.note,
    trace: parseTraceContext({ traceparent: row.traceparent }),
  };
}

/** How a retry ended. */
export type SagaRetryOutcome =
  /** Committed: the status the saga is in now (NEEDS_ATTENTION again if the release failed). */
  | { kind: 'retried'; status: string }
  /** The saga was not at the version planned on: nothing done. */
  | { kind: 'moved-meanwhile' }
  /** The stock release failed, was counted, and rolled back: the saga stays as it was. */
  | { kind: 'failed'; error: string };

/**
 * Retries the parked saga of order `orderId` as `plan` saw it: only if it is still at the
 * plan's version, and as a span of the order's trace (the plan's), in which its log lines
 * (`projectId`'s) and its events are filed. Its events go to the outbox, and the relay
 * publishes them. A stock release that fails on the saga's last allowed attempt parks it
 * again, owing it (`retried`, NEEDS_ATTENTION); one that fails earlier
 * (MAX_COMPENSATION_ATTEMPTS was raised) is counted (`failed`).
 * @throws a failing database, or SagaInputRejectedError for a state it cannot read
 */
export async function retryParkedSaga(
  engine: OrderSagaEngine,
  orderId: string,
  {
    plan,
    projectId,
    log,
  }: {
    plan: Pick<Extract<SagaRetryPlan, { kind: 'retry' }>, 'version' | 'trace'>;
    projectId: string;
    log: Logger;
  },
): Promise<SagaRetryOutcome> {
  const span = childSpan(plan.trace);
  try {
    const applied = await runInTrace(span, () =>
      engine.apply(orderId, retry, {
        causationId: null,
        expectedVersion: plan.version,
        log: log.child(traceFields(span, projectId)),
      }),
    );
    return applied === undefined || applied === 'duplicate'
      ? { kind: 'moved-meanwhile' }
      : { kind: 'retried', status: applied.status };
  } catch (error) {
    if (error instanceof CompensationRetryError) {
      return { kind: 'failed', error: messageOf(error.cause) };
    }
    throw error;
  }
}
