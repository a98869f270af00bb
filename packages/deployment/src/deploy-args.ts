import { UsageError } from '@orders/platform';
import { type FunctionName, functions } from './deployed-functions';

const usage = `usage: pnpm run deploy <function>... | --all [--dry-run]
functions: ${Object.keys(functions).join(', ')}`;

export interface DeployArgs {
  names: FunctionName[];
  dryRun: boolean;
}

const isFunctionName = (name: string): name is FunctionName => Object.hasOwn(functions, name);

export function parseDeployArgs(argv: readonly string[]): DeployArgs {
  let all = false;
  let dryRun = false;
  const names: FunctionName[] = [];
  for (const arg of argv) {
    if (arg === '--all') all = true;
    else if (arg === '--dry-run') dryRun = true;
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}\n${usage}`);
    else if (!isFunctionName(arg)) throw new UsageError(`unknown function ${arg}\n${usage}`);
    else if (!names.includes(arg)) names.push(arg);
  }
  if (all && names.length > 0)
    throw new UsageError(`give function names or --all, not both\n${usage}`);
  if (all) return { names: Object.keys(functions) as FunctionName[], dryRun };
  if (names.length === 0) throw new UsageError(usage);
  return { names, dryRun };
}
