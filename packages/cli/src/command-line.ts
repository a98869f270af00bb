import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { messageOf, UsageError } from '@orders/platform';

/**
 * `argv` (without the node and script paths) parsed by node:util's `parseArgs`, strict, with
 * positionals; an unknown option or a missing value is a UsageError.
 */
export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: Options,
) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
}

/**
 * Runs a command's `main` on this process's arguments and environment: its answer is the
 * exit code; a failure it did not expect is printed as `<name>: <message>`, exit code 1.
 */
export function runCommand(
  name: string,
  main: (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>,
): void {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${messageOf(error)}\n`);
      process.exitCode = 1;
    },
  );
}
