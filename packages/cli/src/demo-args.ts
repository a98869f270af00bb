import { UsageError } from '@orders/platform';
import { parseCommandLine } from './command-line';

export interface DemoArgs {
  help: boolean;
  orders: number;
  json: boolean;
  /** Seconds to wait, once all orders are placed, for them to be final. */
  timeoutSeconds: number;
  /** The mix's seed; random (and printed) when not given. */
  seed: number | undefined;
  concurrency: number;
}

export const demoUsage = `usage: pnpm demo [--orders N] [--json] [--timeout S] [--seed N] [--concurrency C]

  --orders N       orders to place (default 50, at most 10000)
  --json           print only {placed, confirmed, cancelled, pending, deadLettered,
                   p50LatencyMs, p95LatencyMs, ...} on stdout
  --timeout S      seconds to wait, once all are placed, for every order to be final (default 120)
  --seed N         repeat a run's mix of orders (the seed is printed on stderr)
  --concurrency C  requests in flight at once (default 8)

Runs against the running \`pnpm dev\` stack (.local/dev-stack.json, or PLACE_ORDER_URL,
PUBSUB_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT); with none, starts one and stops it at the end.`;

/**
 * Parses `pnpm demo` arguments (without the node and script paths).
 * @throws UsageError
 */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const { values, positionals } = parse(argv);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${positionals[0]}: options start with --`);
  }
  return {
    help: values.help ?? false,
    orders: integer('--orders', values.orders, { min: 1, max: 10_000, fallback: 50 }),
    json: values.json ?? false,
    timeoutSeconds: seconds('--timeout', values.timeout, 120),
    seed:
      values.seed === undefined
        ? undefined
        : integer('--seed', values.seed, { min: 0, max: 2 ** 32 - 1, fallback: 0 }),
    concurrency: integer('--concurrency', values.concurrency, { min: 1, max: 64, fallback: 8 }),
  };
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    orders: { type: 'string', short: 'n' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
}

function integer(
  name: string,
  value: string | undefined,
  { min, max, fallback }: { min: number; max: number; fallback: number },
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()))
    throw new UsageError(`${name} takes a whole number, got ${value}`);
  const number = Number(value);
  if (number < min || number > max) {
    throw new UsageError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return number;
}

function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0 || number > 86_400) {
    throw new UsageError(`${name} takes seconds, more than 0 and at most 86400, got ${value}`);
  }
  return number;
}
