import { uuidPattern } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseCommandLine, unknownChoice } from './command-line';

export type SagasCommand =
  | { command: 'help' }
  | { command: 'list'; status: string | undefined; limit: number; json: boolean }
  | { command: 'show'; orderId: string; json: boolean }
  | { command: 'stalled'; limit: number; json: boolean }
  | { command: 'redrive'; orderId: string; dryRun: boolean };

const defaultLimit = 100;
const maxLimit = 10_000;

export const sagasUsage = (statuses: readonly string[]) => `usage: pnpm sagas <command> [options]

  list [--status S] [--limit N] [--json]  order sagas, most recently changed first (default 100)
  show <orderId> [--json]                 one saga: its state, its order, and every transition
  stalled [--limit N] [--json]            orders still PLACED with no saga, placed more than
                                          STALLED_ORDER_SECONDS ago (default 900), oldest first
  redrive <orderId> [--dry-run]           publish that order's OrderPlaced again to its saga,
                                          whatever its re-drives so far (--dry-run: say what)

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

  switch (command) {
    case undefined:
      throw new UsageError('a command is needed: list, show, stalled or redrive');
    case 'help':
      return { command: 'help' };
    case 'list': {
      onlyFor('redrive', values['dry-run'], '--dry-run');
      if (rest.length > 0) throw new UsageError(`list takes no argument, got ${rest.join(' ')}`);
      const { status } = values;
      if (status !== undefined && !statuses.includes(status)) {
        throw new UsageError(unknownChoice('status', status, statuses));
      }
      return { command, status, limit: limit(values.limit), json };
    }
    case 'show':
      for (const option of ['status', 'limit'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to show`);
      }
      onlyFor('redrive', values['dry-run'], '--dry-run');
      if (rest.length !== 1) throw new UsageError('show takes one order id');
      return { command, orderId: orderId(rest[0]!), json };
    case 'stalled':
      if (values.status !== undefined) throw new UsageError('--status does not apply to stalled');
      onlyFor('redrive', values['dry-run'], '--dry-run');
      if (rest.length > 0) throw new UsageError(`stalled takes no argument, got ${rest.join(' ')}`);
      return { command, limit: limit(values.limit), json };
    case 'redrive':
      for (const option of ['status', 'limit', 'json'] as const) {
        if (values[option] !== undefined)
          throw new UsageError(`--${option} does not apply to redrive`);
      }
      if (rest.length !== 1) throw new UsageError('redrive takes one order id');
      return { command, orderId: orderId(rest[0]!), dryRun: values['dry-run'] ?? false };
    default:
      throw new UsageError(
        unknownChoice('command', command, ['list', 'show', 'stalled', 'redrive']),
      );
  }
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    status: { type: 'string' },
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
