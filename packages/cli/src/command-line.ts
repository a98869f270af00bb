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
