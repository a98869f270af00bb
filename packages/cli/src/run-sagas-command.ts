import type { Database } from '@orders/db';
import { sagaTopic } from '@orders/events';
import {
  findRedriveCandidate,
  listStalledOrders,
  type RedriveCandidate,
  redriveOrder,
} from '@orders/ordering';
import type { Kysely } from 'kysely';
import type { CommandOutput } from './run-dlq-command';
import { formatSagaHistory, formatSagaTable, formatStalledTable } from './saga-format';
import { findSagaHistory } from './saga-history';
import { listSagas } from './saga-listing';
import type { SagasCommand } from './sagas-args';

/**
 * Runs one `pnpm sagas` command against the sagas of `type` in `db`; resolves to the exit
 * code: 0 done, 1 when the saga or order was not found, or an order cannot be re-driven.
 * `stalledOrderSeconds`: how long ago an order with no saga was placed to count as stalled.
 */
export async function runSagasCommand(
  command: Exclude<SagasCommand, { command: 'help' }>,
  db: Kysely<Database>,
  { type, stalledOrderSeconds }: { type: string; stalledOrderSeconds: number },
  out: CommandOutput,
): Promise<number> {
  switch (command.command) {
    case 'list': {
      const sagas = await listSagas(db, { type, status: command.status, limit: command.limit });
      out.stdout(
        command.json ? JSON.stringify(sagas, null, 2) : formatSagaTable(sagas, command.limit),
      );
      return 0;
    }
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
