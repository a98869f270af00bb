/** One figure of `pnpm bench`, beside its baseline measured in the same run. */
export interface Measure {
  /** e.g. `intake-throughput`, `cold-start-place-order`. */
  name: string;
  /** e.g. `requests/s`, `ms`, `MiB`, `events/s`, `rows/s`. */
  unit: string;
  figure: number;
  baseline: number;
  /** figure / baseline: above 1 is better for rates, worse for times and sizes. */
  ratio: number;
  /** What the baseline is, and anything else a reader needs (e.g. `p50 12 ms`). */
  note?: string;
}

export function measure(
  name: string,
  unit: string,
  figure: number,
  baseline: number,
  note?: string,
): Measure {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    name,
    unit,
    figure: round(figure),
    baseline: round(baseline),
    ratio: round(baseline === 0 ? Number.NaN : figure / baseline),
    ...(note ? { note } : {}),
  };
}

/** What every benchmark gets. */
export interface BenchContext {
  /** A smoke run: seconds, not minutes (the test suite's); figures mean little then. */
  quick: boolean;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** The environment: PATH, PUBSUB_EMULATOR_HOST/DATABASE_URL to reuse servers (tests). */
  env: NodeJS.ProcessEnv;
}
