import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '@orders/platform';
import { ConfigError } from '@orders/runtime';
import { runCommand } from './command-line';
import { findOrderRecord } from './order-record';
import { formatOrderTimeline, orderTimeline } from './order-timeline';
import { onStackDatabase } from './stack-database';
import { cliConfig, devStackPath } from './stack-location';
import { parseTraceArgs, traceUsage } from './trace-args';

/**
 * `pnpm trace <orderId>`: one order's timeline across functions, from what the local stack
 * records: the functions' log (`.local/functions.log`), the database (DATABASE_URL or the
 * running dev stack's) and, with OTEL_TRACES=on, the spans file (`.local/spans.jsonl`).
 * Exit codes: 0 shown, 1 failed or not found, 2 usage.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const stderr = (text: string) => process.stderr.write(`${text}\n`);
  let command: ReturnType<typeof parseTraceArgs>;
  let config: ReturnType<typeof cliConfig>;
  try {
    command = parseTraceArgs(argv);
    config = cliConfig(env);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    stderr(`trace: ${error.message}\n\n${traceUsage}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${traceUsage}\n`);
    return 0;
  }

  const path = devStackPath(config);
  const logsPath = command.logs ?? join(dirname(path), 'functions.log');
  const spansPath = command.spans ?? join(dirname(path), 'spans.jsonl');
  const logs = await linesOf(logsPath);
  if (logs === undefined) {
    stderr(`trace: no function log at ${logsPath} (\`pnpm dev\` writes it)`);
    return 1;
  }
  const ran = await onStackDatabase('trace', config, stderr, async (db, { where }) => {
    const order = await findOrderRecord(db, command.orderId);
    if (!order) {
      stderr(`trace: no order ${command.orderId} in ${where}`);
      return 1;
    }
    const timeline = orderTimeline(order, logs, (await linesOf(spansPath)) ?? []);
    process.stdout.write(
      `${command.json ? JSON.stringify(timeline, null, 2) : formatOrderTimeline(timeline)}\n`,
    );
    return 0;
  });
  return ran ? ran.result : 1;
}

/** The lines of a file; undefined when there is none. */
async function linesOf(path: string): Promise<string[] | undefined> {
  try {
    return (await readFile(path, 'utf8')).split('\n');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

runCommand('trace', main);
