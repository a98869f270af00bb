import { uuidPattern } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseCommandLine, unknownChoice } from './command-line';

export type SagasCommand =
  | { command: 'help' }
  | {
      command: 'list';
      status: string | undefined;
      /** Only the sagas whose deadline has passed (housekeeping has not woken them yet). */
      overdue: boolean;
      limit: number;
      json: boolean;
    }
  | { command: 'show'; orderId: string; json: boolean }
  | { command: 'stalled'; limit: number; json: boolean }
  | { command: 'redrive'; orderId: string; dryRun: boolean }
  | { command: 'retry'; orderId: string; dryRun: boolean }
  | { command: 'diagram' };

const commands = 'list, show, stalled, redrive, retry or diagram';
const defaultLimit = 100;
const maxLimit = 10_000;

export const sagasUsage = (statuses: readonly string[]) => `usage: pnpm sagas <command> [options]

  list [--status S] [--overdue] [--limit N] [--json]
                                          order sagas, most recently changed first (default
                                          100), after a line counting the parked and overdue
                                          ones (--overdue: only those whose deadline passed
                                          SAGA_OVERDUE_SECONDS ago, default 300)
  show <orderId> [--json]                 one saga: its state, its order, and every transition
  stalled [--limit N] [--json]            orders still PLACED with no saga, placed more than
                                          STALLED_ORDER_SECONDS ago (default 900), oldest first
  redrive <orderId> [--dry-run]           publish that order's OrderPlaced again to its saga,
                                          whatever its re-drives so far (--dry-run: say what)
  retry <orderId> [--dry-run]             resume a parked (NEEDS_ATTENTION) saga: release the
                                          stock it owes, ask for its refund again (--dry-run:
                                          say what)
  diagram                                 the saga's legal moves, as a Mermaid diagram

  --status S keeps the sagas in status S: ${statuses.join(', ')}.`;

/**
 * Parses `pnpm sagas` arguments (without the node and script paths); `statuses` are the
 * statuses of the order saga.
 * @throws UsageError
 */
export function parseSagasArgs(argv: readonly string[], statuses: readonly string[]): SagasCommand {
  const { values, positionals } = parse(argv);
  if (values.help) return { command: 'help' };
  const [command, ...rest] = positionals;
  const json = values.json ?? false;
  if (command !== 'list') onlyFor('list', values.overdue, '--overdue');

  switch (command) {
    case undefined:
      throw new UsageError(`a command is needed: ${commands}`);
    case 'help':
      return { command: 'help' };
    case 'list': {
      onlyFor('redrive and retry', values['dry-run'], '--dry-run');
      if (rest.length > 0) throw new UsageError(`list takes no argument, got ${rest.join(' ')}`);
      const { status } = values;
      if (status !== undefined && !statuses.includes(status)) {
        throw new UsageError(unknownChoice('status', status, statuses));
      }
      return {
        command,
        status,
        overdue: values.overdue ?? false,
        limit: limit(values.limit),
        json,
      };
    }
    case 'show':
      for (const option of ['status', 'limit'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to show`);
      }
      onlyFor('redrive and retry', values['dry-run'], '--dry-run');
      if (rest.length !== 1) throw new UsageError('show takes one order id');
      return { command, orderId: orderId(rest[0]!), json };
    case 'stalled':
      if (values.status !== undefined) throw new UsageError('--status does not apply to stalled');
      onlyFor('redrive and retry', values['dry-run'], '--dry-run');
      if (rest.length > 0) throw new UsageError(`stalled takes no argument, got ${rest.join(' ')}`);
      return { command, limit: limit(values.limit), json };
    case 'redrive':
      for (const option of ['status', 'limit', 'json'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to redrive`);
      }
      if (rest.length !== 1) throw new UsageError('redrive takes one order id');
      return { command, orderId: orderId(rest[0]!), dryRun: values['dry-run'] ?? false };
    case 'retry':
      for (const option of ['status', 'limit', 'json'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to retry`);
      }
      if (rest.length !== 1) throw new UsageError('retry takes one order id');
      return { command, orderId: orderId(rest[0]!), dryRun: values['dry-run'] ?? false };
    case 'diagram':
      for (const option of ['status', 'limit', 'json', 'dry-run'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to diagram`);
      }
      if (rest.length > 0) throw new UsageError(`diagram takes no argument, got ${rest.join(' ')}`);
      return { command };
    default:
      throw new UsageError(
        unknownChoice('command', command, [
          'list',
          'show',
          'stalled',
          'redrive',
          'retry',
          'diagram',
        ]),
      );
  }
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    status: { type: 'string' },
    overdue: { type: 'boolean' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
}

/** An option that only `command` takes. */
function onlyFor(command: string, value: unknown, option: string) {
  if (value !== undefined) throw new UsageError(`${option} applies to ${command} only`);
}

function limit(value: string | undefined): number {
  if (value === undefined) return defaultLimit;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= 1 && number <= maxLimit)) {
    throw new UsageError(`--limit must be a whole number from 1 to ${maxLimit}, got ${value}`);
  }
  return number;
}

/** Order ids are uuids; anything else would only fail in PostgreSQL's cast. */
function orderId(value: string): string {
  if (!uuidPattern.test(value)) throw new UsageError(`not an order id (a uuid): ${value}`);
  return value.toLowerCase();
}
