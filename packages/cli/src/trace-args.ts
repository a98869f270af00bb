import { uuidPattern } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseCommandLine } from './command-line';

export type TraceCommand =
  | { command: 'help' }
  | { command: 'trace'; orderId: string; logs?: string; spans?: string; json: boolean };

export const traceUsage = `usage: pnpm trace <orderId> [--logs FILE] [--spans FILE] [--json]

  The order's timeline across functions, from the local stack's records: each hop (function,
  message, delivery attempt), its queue wait and handling time, retries and dead letters,
  the events it wrote and, with OTEL_TRACES=on, its spans.

  --logs FILE   the functions' log (default .local/functions.log, written by \`pnpm dev\`)
  --spans FILE  the spans file (default .local/spans.jsonl, written with OTEL_TRACES=on)
  --json        the timeline as JSON`;

/**
 * Parses `pnpm trace` arguments (without the node and script paths).
 * @throws UsageError
 */
export function parseTraceArgs(argv: readonly string[]): TraceCommand {
  const { values, positionals } = parseCommandLine(argv, {
    logs: { type: 'string' },
    spans: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return { command: 'help' };
  const [orderId, ...rest] = positionals;
  if (orderId === undefined) throw new UsageError('an order id is needed');
  if (rest.length > 0) throw new UsageError(`one order id only, got also ${rest.join(' ')}`);
  if (!uuidPattern.test(orderId)) throw new UsageError(`${orderId} is not an order id (a uuid)`);
  return {
    command: 'trace',
    orderId: orderId.toLowerCase(),
    ...(values.logs === undefined ? {} : { logs: values.logs }),
    ...(values.spans === undefined ? {} : { spans: values.spans }),
    json: values.json ?? false,
  };
}
