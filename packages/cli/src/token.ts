import { ConfigError, customerSubject } from '@orders/runtime';
import { runCommand } from './command-line';
import { cliConfig, devStackPath, locateStack, readDevStack } from './stack-location';

const usage = `usage: pnpm run token [<customerId>]

Prints a bearer token of the running dev stack's development issuer for <customerId>
(default cust-dev), valid for an hour:

  curl -H "Authorization: Bearer $(pnpm --silent run token cust-42)" ...`;

/** `pnpm run token [<customerId>]`. Exit codes: 0 printed, 1 no dev stack, 2 usage. */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const stderr = (text: string) => process.stderr.write(`token: ${text}\n`);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [customerId = 'cust-dev', ...rest] = argv;
  const option = argv.find((arg) => arg.startsWith('-'));
  if (option) {
    stderr(`unknown option ${option} (it takes none but --help)\n\n${usage}`);
    return 2;
  }
  if (rest.length > 0 || !customerSubject.test(customerId)) {
    // The intake takes no other subject: a token for one would only be refused.
    stderr(`expected one customer id (1 to 128 visible characters)\n\n${usage}`);
    return 2;
  }
  let config: ReturnType<typeof cliConfig>;
  try {
    config = cliConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    stderr(error.message);
    return 2;
  }
  const path = devStackPath(config);
  const { tokens } = locateStack(config, await readDevStack(path), path);
  if (!tokens) {
    stderr(`no development issuer: ${path} does not name one (start \`pnpm dev\`)`);
    return 1;
  }
  process.stdout.write(`${await tokens(customerId)}\n`);
  return 0;
}

runCommand('token', main);
