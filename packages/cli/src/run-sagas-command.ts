import type { Database } from '@orders/db';
import { sagaTopic } from '@orders/events';
import {
  createOrderSagaEngine,
  findRedriveCandidate,
  listStalledOrders,
  type OrderSagaEngineOptions,
  planSagaRetry,
  type RedriveCandidate,
  redriveOrder,
  retryParkedSaga,
  type SagaRetryPlan,
} from '@orders/ordering';
import type { Logger } from '@orders/platform';
import type { Kysely } from 'kysely';
import type { CommandOutput } from './run-dlq-command';
import {
  formatSagaHealth,
  formatSagaHistory,
  formatSagaTable,
  formatStalledTable,
} from './saga-format';
import { findSagaHistory } from './saga-history';
import { listSagas, sagaHealth } from './saga-listing';
import type { SagasCommand } from './sagas-args';

export interface SagasSettings {
  /** The saga type (`order`). */
  type: string;
  /** How long ago an order with no saga was placed to count as stalled. */
  stalledOrderSeconds: number;
  /** SAGA_OVERDUE_SECONDS: how long past its deadline a saga is overdue. */
  overdueGraceSeconds: number;
  /** The order saga's settings, for a retry (its refund deadline, its compensation attempts). */
  saga: OrderSagaEngineOptions;
  /** Where the saga engine logs a retry that parks the saga again. */
  log: Logger;
  /** The project whose traces those lines are filed under. */
  projectId: string;
}

/**
 * Runs one `pnpm sagas` command (but help and diagram) against the sagas of `type` in `db`;
 * resolves to the exit code: 0 done, 1 when the saga or order was not found, an order cannot
 * be re-driven, or a saga retried (or not retried) stays parked.
 */
export async function runSagasCommand(
  command: Exclude<SagasCommand, { command: 'help' | 'diagram' }>,
  db: Kysely<Database>,
  settings: SagasSettings,
  out: CommandOutput,
): Promise<number> {
  const { type, stalledOrderSeconds, overdueGraceSeconds } = settings;
  switch (command.command) {
    case 'list': {
      const query = {
        type,
        status: command.status,
        overdue: command.overdue,
        overdueGraceSeconds,
        limit: command.limit,
      };
      const sagas = await listSagas(db, query);
      const health = await sagaHealth(db, { overdueGraceSeconds });
      if (command.json) {
        out.stdout(JSON.stringify({ ...health, sagas }, null, 2));
        return 0;
      }
      out.stdout(`${formatSagaHealth(health)}\n\n${formatSagaTable(sagas, command.limit)}`);
      return 0;
    }
    case 'retry':
      return retrySaga(command, db, settings, out);
    case 'show': {
      const history = await findSagaHistory(db, { type, orderId: command.orderId });
      if (!history) {
        out.stderr(`no saga for order ${command.orderId}`);
        return 1;
      }
      out.stdout(command.json ? JSON.stringify(history, null, 2) : formatSagaHistory(history));
      return 0;
    }
    case 'stalled': {
      const stalled = await listStalledOrders(db, {
        olderThanSeconds: stalledOrderSeconds,
        limit: command.limit,
      });
      out.stdout(
        command.json
          ? JSON.stringify(stalled, null, 2)
          : formatStalledTable(stalled, command.limit),
      );
      return 0;
    }
    case 'redrive': {
      const { orderId } = command;
      const candidate = await findRedriveCandidate(db, orderId);
      const refusal = whyNotRedrivable(orderId, candidate);
      if (refusal || !candidate?.eventId) {
        out.stderr(refusal ?? `order ${orderId} cannot be re-driven`);
        return 1;
      }
      if (command.dryRun) {
        out.stdout(
          `would re-drive order ${orderId}: publish its OrderPlaced ${candidate.eventId} again to ${sagaTopic} (re-drives so far: ${candidate.redrives})`,
        );
        return 0;
      }
      const done = await redriveOrder(db, orderId);
      if (!done?.eventId) {
        out.stderr(`order ${orderId} changed meanwhile (it has a saga now?): nothing re-driven`);
        return 1;
      }
      out.stdout(
        `re-drove order ${orderId}: its OrderPlaced ${done.eventId} goes to ${sagaTopic} again at the next housekeeping tick (re-drive ${done.redrives})`,
      );
      return 0;
    }
  }
}

/** `sagas retry`: says what the retry does (or would), then does it, and says how it ended. */
async function retrySaga(
  { orderId, dryRun }: { orderId: string; dryRun: boolean },
  db: Kysely<Database>,
  settings: SagasSettings,
  out: CommandOutput,
): Promise<number> {
  const plan = await planSagaRetry(db, orderId, settings.saga);
  if (plan.kind === 'refused') {
    out.stderr(plan.reason);
    return 1;
  }
  if (dryRun) {
    out.stdout(
      `would retry the saga of order ${orderId} (version ${plan.version}): ${describeRetry(plan)}`,
    );
    return 0;
  }
  const engine = createOrderSagaEngine(db, settings.saga);
  const outcome = await retryParkedSaga(engine, orderId, {
    plan,
    projectId: settings.projectId,
    log: settings.log,
  });
  if (outcome.kind === 'failed') {
    out.stderr(
      `the retry of the saga of order ${orderId} failed (counted; it stays parked): ${outcome.error} (pnpm sagas show ${orderId})`,
    );
    return 1;
  }
  if (outcome.kind === 'moved-meanwhile') {
    out.stderr(
      `the saga of order ${orderId} moved meanwhile: nothing retried (pnpm sagas show ${orderId})`,
    );
    return 1;
  }
  const history = await findSagaHistory(db, { type: settings.type, orderId });
  const last = history?.transitions.at(-1);
  out.stdout(
    `retried the saga of order ${orderId}: ${last ? `${last.from} -> ${last.to} (${last.note ?? 'no note'})` : outcome.status}`,
  );
  if (plan.events.length > 0) {
    out.stdout(
      `its ${plan.events.join(', ')} goes out at the next housekeeping tick (outbox relay)`,
    );
  }
  if (outcome.status !== 'NEEDS_ATTENTION') return 0;
  const stillOwed = ((history?.saga.state.owed as unknown[] | undefined) ?? []).length > 0;
  out.stdout(
    stillOwed
      ? `still parked: the stock release failed again (${history?.saga.lastError ?? 'see pnpm sagas show'})`
      : 'still parked until its refund is confirmed (its PaymentRefunded settles it)',
  );
  return stillOwed ? 1 : 0;
}

/** What a retry does, in an operator's words. */
function describeRetry(plan: Extract<SagaRetryPlan, { kind: 'retry' }>): string {
  const steps = [
    ...plan.compensations.map((kind) =>
      kind === 'ReleaseStock' ? 'release the stock it still holds' : kind,
    ),
    ...plan.events.map((type) => `emit ${type} (through the outbox)`),
  ];
  const deadline = plan.deadlineAt ? `, deadline ${plan.deadlineAt.toISOString()}` : '';
  return `${steps.length > 0 ? steps.join(', ') : 'nothing is owed'}; ${plan.from} -> ${plan.to}${deadline}`;
}

/** Why an order cannot be re-driven, for an operator; undefined when it can. */
function whyNotRedrivable(orderId: string, candidate: RedriveCandidate | undefined) {
  if (!candidate) return `no order ${orderId}`;
  if (candidate.sagaStatus !== null) {
    return `order ${orderId} has a saga (${candidate.sagaStatus}): it needs no re-drive (pnpm sagas show ${orderId})`;
  }
  if (candidate.status !== 'PLACED') {
    return `order ${orderId} is ${candidate.status}, not PLACED: nothing to re-drive`;
  }
  if (candidate.eventId === null) {
    return `order ${orderId} has no OrderPlaced in the outbox: nothing to publish again`;
  }
  if (candidate.setAsideReason !== null) {
    return `the OrderPlaced ${candidate.eventId} of order ${orderId} is set aside (${candidate.setAsideReason}): the relay never publishes it`;
  }
  return undefined;
}
