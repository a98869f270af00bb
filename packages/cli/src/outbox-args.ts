import { uuidPattern } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseCommandLine } from './command-line';

export type OutboxCommand =
  | { command: 'help' }
  | { command: 'list'; setAside: boolean; limit: number; json: boolean }
  | { command: 'show'; eventId: string; json: boolean }
  | { command: 'retry'; eventId: string; dryRun: boolean };

const commands = 'list, show or retry';
const defaultLimit = 100;
const maxLimit = 10_000;

export const outboxUsage = `usage: pnpm outbox <command> [options]

  list [--set-aside] [--limit N] [--json]  outbox rows not yet published, oldest first
                                           (default 100), after a line counting them, with
                                           each one's age, state and last error
                                           (--set-aside: only the rows the relay set aside)
  show <eventId> [--json]                  one row: its bookkeeping and its event
  retry <eventId> [--dry-run]              a set-aside row: released for the relay, if it now
                                           passes the relay's rule; an unsent one: due now
                                           (--dry-run: say what it would do, change nothing)`;

/**
 * Parses `pnpm outbox` arguments (without the node and script paths).
 * @throws UsageError
 */
export function parseOutboxArgs(argv: readonly string[]): OutboxCommand {
  const { values, positionals } = parseCommandLine(argv, {
    'set-aside': { type: 'boolean' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return { command: 'help' };
  const [command, ...rest] = positionals;
  const json = values.json ?? false;
  const only = (option: string, value: unknown) => {
    if (value !== undefined) throw new UsageError(`--${option} does not apply to ${command}`);
  };
  switch (command) {
    case undefined:
      throw new UsageError(`a command is needed: ${commands}`);
    case 'help':
      return { command: 'help' };
    case 'list':
      only('dry-run', values['dry-run']);
      if (rest.length > 0) throw new UsageError(`list takes no argument, got ${rest.join(' ')}`);
      return {
        command,
        setAside: values['set-aside'] ?? false,
        limit: limit(values.limit),
        json,
      };
    case 'show':
      only('set-aside', values['set-aside']);
      only('limit', values.limit);
      only('dry-run', values['dry-run']);
      if (rest.length !== 1) throw new UsageError('show takes one event id');
      return { command, eventId: eventId(rest[0]!), json };
    case 'retry':
      only('set-aside', values['set-aside']);
      only('limit', values.limit);
      only('json', values.json);
      if (rest.length !== 1) throw new UsageError('retry takes one event id');
      return { command, eventId: eventId(rest[0]!), dryRun: values['dry-run'] ?? false };
    default:
      throw new UsageError(`unknown command ${command}: ${commands}`);
  }
}

function limit(value: string | undefined): number {
  if (value === undefined) return defaultLimit;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= 1 && number <= maxLimit)) {
    throw new UsageError(`--limit must be a whole number from 1 to ${maxLimit}, got ${value}`);
  }
  return number;
}

/** Outbox rows are keyed by their event id, a uuid. */
function eventId(value: string): string {
  if (!uuidPattern.test(value)) throw new UsageError(`not an event id (a uuid): ${value}`);
  return value.toLowerCase();
}
