#!/usr/bin/env node
import { stackOf, UsageError } from '@orders/platform';
import { benchAnalytics } from './analytics-bench';
import { type BenchName, benchUsage, parseBenchArgs } from './bench-args';
import { benchJson, benchText } from './bench-report';
import { benchColdStart } from './cold-start-bench';
import { benchEventHandling } from './event-handling-bench';
import { benchHotProducts } from './hot-products-bench';
import { benchInstance } from './instance-bench';
import { benchIntake } from './intake-bench';
import type { BenchContext, Measure } from './measure';
import { benchPipeline } from './pipeline-bench';
import { benchScale } from './scale-bench';

const benchmarks: Record<BenchName, (context: BenchContext) => Promise<Measure[]>> = {
  intake: benchIntake,
  'event-handling': benchEventHandling,
  pipeline: benchPipeline,
  'cold-start': benchColdStart,
  analytics: benchAnalytics,
  scale: benchScale,
  'hot-products': benchHotProducts,
  instance: benchInstance,
};

/**
 * `pnpm bench [--json] [--quick] [--only <name,...>]`: each benchmark in turn, each starting
 * and stopping what it needs; progress on stderr, the report on stdout. Exit 0 when every
 * benchmark ran, 1 when one failed (the others still run and report), 2 on a usage error.
 */
async function main(): Promise<number> {
  let args: ReturnType<typeof parseBenchArgs>;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${benchUsage}\n`);
    return 2;
  }
  const log = (line: string) => process.stderr.write(`bench | ${line}\n`);
  const context: BenchContext = { quick: args.quick, log, env: process.env };
  const measures: Measure[] = [];
  const failed: string[] = [];
  for (const name of args.only) {
    const started = performance.now();
    log(`${name}: starting${args.quick ? ' (quick)' : ''}`);
    try {
      measures.push(...(await benchmarks[name](context)));
      log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      failed.push(name);
      log(`${name}: failed: ${stackOf(error)}`);
    }
  }
  process.stdout.write(args.json ? `${benchJson(measures)}\n` : benchText(measures, failed));
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench | failed: ${stackOf(error)}\n`);
    process.exit(1);
  },
);
