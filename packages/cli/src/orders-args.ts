import { uuidPattern } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseCommandLine, unknownChoice } from './command-line';

export type OrdersCommand =
  | { command: 'help' }
  | { command: 'show'; orderId: string; json: boolean };

export const ordersUsage = `usage: pnpm orders show <orderId> [--json]

  show <orderId> [--json]  one order's whole journey: the order and its lines, its saga and
                           every transition, its payments and the provider's records, its
                           events in the warehouse, its dead letters, and where its logs are`;

/**
 * Parses `pnpm orders` arguments (without the node and script paths).
 * @throws UsageError
 */
export function parseOrdersArgs(argv: readonly string[]): OrdersCommand {
  const { values, positionals } = parseCommandLine(argv, {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return { command: 'help' };
  const [command, ...rest] = positionals;
  switch (command) {
    case undefined:
      throw new UsageError('a command is needed: show');
    case 'help':
      return { command: 'help' };
    case 'show': {
      if (rest.length !== 1) throw new UsageError('show takes one order id');
      const orderId = rest[0]!;
      if (!uuidPattern.test(orderId)) throw new UsageError(`not an order id (a uuid): ${orderId}`);
      return { command, orderId: orderId.toLowerCase(), json: values.json ?? false };
    }
    default:
      throw new UsageError(unknownChoice('command', command, ['show']));
  }
}
