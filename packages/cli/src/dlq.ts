import { topics as declaredTopics } from '@orders/events';
import { UsageError } from '@orders/platform';
import { ConfigError } from '@orders/runtime';
import { runCommand } from './command-line';
import { createPubSubDeadLetterQueue } from './dead-letter-queue';
import { dlqUsage, parseDlqArgs } from './dlq-args';
import { runDlqCommand } from './run-dlq-command';
import {
  cliConfig,
  describePubSub,
  devStackPath,
  locateStack,
  readDevStack,
} from './stack-location';

/**
 * `pnpm dlq list|show|replay`: the dead letters of every topic of the topology, on the
 * running dev stack (`.local/dev-stack.json`), the emulator at PUBSUB_EMULATOR_HOST, or
 * production (GOOGLE_CLOUD_PROJECT alone). Results go to stdout, diagnostics to stderr.
 * Exit codes: 0 done, 1 failed or not found, 2 usage.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const topics = Object.keys(declaredTopics);
  const stderr = (text: string) => process.stderr.write(`${text}\n`);
  let command: ReturnType<typeof parseDlqArgs>;
  let config: ReturnType<typeof cliConfig>;
  try {
    command = parseDlqArgs(argv, topics);
    config = cliConfig(env);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    stderr(`dlq: ${error.message}\n\n${dlqUsage(topics)}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${dlqUsage(topics)}\n`);
    return 0;
  }

  const path = devStackPath(config);
  const { pubsub } = locateStack(config, await readDevStack(path), path);
  if (!pubsub) {
    stderr(
      `dlq: no stack to read: ${path} does not exist (start \`pnpm dev\`), ` +
        'PUBSUB_EMULATOR_HOST is not set, and neither is GOOGLE_CLOUD_PROJECT (production)',
    );
    return 1;
  }
  stderr(`dlq: ${describePubSub(pubsub)}`);
  const queue = createPubSubDeadLetterQueue({
    ...pubsub,
    topics: command.topic ? [command.topic] : topics,
  });
  try {
    return await runDlqCommand(command, queue, {
      stdout: (text) => process.stdout.write(`${text}\n`),
      stderr,
    });
  } finally {
    await queue.close();
  }
}

runCommand('dlq', main);
