import { UsageError } from '@orders/platform';

/** The benchmarks of `pnpm bench`, in the order they run. */
export const benchNames = [
  'intake',
  'event-handling',
  'pipeline',
  'cold-start',
  'analytics',
  'scale',
  'hot-products',
  'instance',
] as const;

/** Former names that --only still takes. */
const aliases: Record<string, BenchName> = { 'scale-retention': 'scale' };

export type BenchName = (typeof benchNames)[number];

export interface BenchArgs {
  json: boolean;
  quick: boolean;
  /** The benchmarks to run, in run order; every one unless --only named some. */
  only: BenchName[];
}

export const benchUsage = `usage: pnpm bench [--json] [--quick] [--only <name,...>]
  --json         print one JSON object on stdout: {"measures": [{name, unit, figure, baseline, ratio, note?}]}
  --quick        a smoke run: seconds per benchmark, same code paths, figures that mean little
  --only N,...   run only these benchmarks: ${benchNames.join(', ')} (scale-retention: scale)`;

/** The benchmark `name` names, itself or by an alias; undefined when it names none. */
function benchNamed(name: string): BenchName | undefined {
  if ((benchNames as readonly string[]).includes(name)) return name as BenchName;
  return aliases[name];
}

/** Parses `pnpm bench` arguments. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let json = false;
  let quick = false;
  let only: Set<BenchName> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.startsWith('--only=') ? ['--only', flag.slice(7)] : [flag];
    switch (name) {
      case '--json':
        json = true;
        break;
      case '--quick':
        quick = true;
        break;
      case '--only': {
        const value = inline ?? argv[++i];
        if (value === undefined || value.startsWith('--') || value.trim() === '') {
          throw new UsageError(`--only takes a list of benchmarks: ${benchNames.join(', ')}`);
        }
        only ??= new Set();
        for (const part of value.split(',').map((part) => part.trim())) {
          const bench = benchNamed(part);
          if (bench === undefined) {
            throw new UsageError(
              `unknown benchmark ${JSON.stringify(part)}; known: ${benchNames.join(', ')}`,
            );
          }
          only.add(bench);
        }
        break;
      }
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  return { json, quick, only: benchNames.filter((name) => !only || only.has(name)) };
}
