import {
  orderSagaDiagram,
  orderSagaOptions,
  orderSagaSettingsSchema,
  orderSagaStatuses,
  orderSagaType,
} from '@orders/ordering';
import { createLogger, sagaOverdueSettingsSchema, UsageError } from '@orders/platform';
import { ConfigError, parseConfig } from '@orders/runtime';
import { runCommand } from './command-line';
import { runSagasCommand } from './run-sagas-command';
import { parseSagasArgs, sagasUsage } from './sagas-args';
import { onStackDatabase } from './stack-database';
import { cliConfig } from './stack-location';

/** Housekeeping's default STALLED_ORDER_SECONDS. */
const defaultStalledOrderSeconds = 900;
const statuses = orderSagaStatuses;

/**
 * `pnpm sagas list|show|stalled|redrive|retry|diagram`: the order sagas as the invariant
 * checker sees them, parked ones resumed, and the orders whose OrderPlaced never reached
 * their saga, in the database at
 * DATABASE_URL or of the running dev stack (`.local/dev-stack.json`). Results go
 * to stdout, diagnostics to stderr. Exit codes: 0 done, 1 failed or not found, 2 usage.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const stderr = (text: string) => process.stderr.write(`${text}\n`);
  let command: ReturnType<typeof parseSagasArgs>;
  let config: ReturnType<typeof cliConfig>;
  let saga: ReturnType<typeof orderSagaOptions>;
  let overdueGraceSeconds: number;
  try {
    command = parseSagasArgs(argv, statuses);
    config = cliConfig(env);
    saga = orderSagaOptions(parseConfig(orderSagaSettingsSchema, env));
    overdueGraceSeconds = parseConfig(sagaOverdueSettingsSchema, env).SAGA_OVERDUE_SECONDS;
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    stderr(`sagas: ${error.message}\n\n${sagasUsage(statuses)}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${sagasUsage(statuses)}\n`);
    return 0;
  }
  if (command.command === 'diagram') {
    // The same diagram as docs/architecture.md's, generated from the definition.
    process.stdout.write(`${orderSagaDiagram(saga)}\n`);
    return 0;
  }

  const ran = await onStackDatabase('sagas', config, stderr, (db, { location }) =>
    runSagasCommand(
      command,
      db,
      {
        type: orderSagaType,
        stalledOrderSeconds: config.STALLED_ORDER_SECONDS ?? defaultStalledOrderSeconds,
        overdueGraceSeconds,
        saga,
        // What the engine logs of a retry, the command says itself.
        log: createLogger({ write: () => {} }),
        projectId: location.pubsub?.projectId ?? 'orders-local',
      },
      {
        stdout: (text) => process.stdout.write(`${text}\n`),
        stderr,
      },
    ),
  );
  return ran ? ran.result : 1;
}

runCommand('sagas', main);
