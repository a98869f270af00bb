import { UsageError } from '@orders/platform';

export interface ChaosArgs {
  orders: number;
  seed: string;
  concurrency: number;
  rate: number;
  json: boolean;
  drainTimeoutSeconds: number;
}

export const chaosUsage = `usage: pnpm chaos [--orders N] [--seed S] [--concurrency C] [--drain-timeout SECONDS] [--json]
  --orders N         orders to place (default 200)
  --seed S           the fault schedule's seed (default: random, printed); the same seed places the same orders
  --rate R           orders placed per second (default 4: a load the local stack keeps up with)
  --concurrency C    orders in flight at once, at most (default 8)
  --drain-timeout S  how long the drain may go without progress before the checks run anyway (default 120)
  --json             print one JSON object: {orders, faults, confirmed, cancelled, needsAttention, pending, deadLettered, violations}`;

/** Parses `pnpm chaos` arguments; `randomSeed` supplies the seed when none is given. */
export function parseChaosArgs(argv: readonly string[], randomSeed: () => string): ChaosArgs {
  const args: ChaosArgs = {
    orders: 200,
    seed: '',
    concurrency: 8,
    rate: 4,
    json: false,
    drainTimeoutSeconds: 120,
  };
  const count = (flag: string, value: string | undefined, max: number) => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 1 || n > max) {
      throw new UsageError(`${flag} takes a whole number from 1 to ${max}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '--orders':
        args.orders = count(flag, argv[++i], 100_000);
        break;
      case '--concurrency':
        args.concurrency = count(flag, argv[++i], 256);
        break;
      case '--rate':
        args.rate = count(flag, argv[++i], 1_000);
        break;
      case '--drain-timeout':
        args.drainTimeoutSeconds = count(flag, argv[++i], 3_600);
        break;
      case '--seed': {
        const seed = argv[++i];
        if (!seed || !/^[\w.-]{1,64}$/.test(seed)) {
          throw new UsageError('--seed takes 1 to 64 letters, digits, dots, dashes or underscores');
        }
        args.seed = seed;
        break;
      }
      case '--json':
        args.json = true;
        break;
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  args.seed ||= randomSeed();
  return args;
}
