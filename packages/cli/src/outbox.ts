import { UsageError } from '@orders/platform';
import { ConfigError } from '@orders/runtime';
import { runCommand } from './command-line';
import { outboxUsage, parseOutboxArgs } from './outbox-args';
import { runOutboxCommand } from './run-outbox-command';
import { onStackDatabase } from './stack-database';
import { cliConfig } from './stack-location';

/**
 * `pnpm outbox list|show|retry`: the outbox rows the relay has not published yet (unsent,
 * waiting for a route, set aside), in the database at DATABASE_URL or of the running dev
 * stack (`.local/dev-stack.json`). Results go to stdout, diagnostics to stderr. Exit codes:
 * 0 done, 1 failed, not found or nothing retried, 2 usage.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const stderr = (text: string) => process.stderr.write(`${text}\n`);
  let command: ReturnType<typeof parseOutboxArgs>;
  let config: ReturnType<typeof cliConfig>;
  try {
    command = parseOutboxArgs(argv);
    config = cliConfig(env);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    stderr(`outbox: ${error.message}\n\n${outboxUsage}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${outboxUsage}\n`);
    return 0;
  }

  const ran = await onStackDatabase('outbox', config, stderr, (db) =>
    runOutboxCommand(command, db, {
      stdout: (text) => process.stdout.write(`${text}\n`),
      stderr,
    }),
  );
  return ran ? ran.result : 1;
}

runCommand('outbox', main);
