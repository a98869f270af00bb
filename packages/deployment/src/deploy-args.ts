import { UsageError } from '@orders/platform';
import { type FunctionName, functions } from './deployed-functions';

const usage = `usage: pnpm run deploy <function>... | --all [--dry-run] [--test-project <project>]
functions: ${Object.keys(functions).join(', ')}
--test-project <project>: the project deployed is a test project (PAYMENT_PROVIDER=sandbox needs it)`;

export interface DeployArgs {
  names: FunctionName[];
  dryRun: boolean;
  testProject?: string | undefined;
}

const isFunctionName = (name: string): name is FunctionName => Object.hasOwn(functions, name);

export function parseDeployArgs(argv: readonly string[]): DeployArgs {
  let all = false;
  let dryRun = false;
  let testProject: string | undefined;
  const names: FunctionName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--test-project' || arg.startsWith('--test-project=')) {
      testProject = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!testProject || testProject.startsWith('-')) {
        throw new UsageError(`--test-project needs the project being deployed\n${usage}`);
      }
    } else if (arg === '--all') all = true;
    else if (arg === '--dry-run') dryRun = true;
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}\n${usage}`);
    else if (!isFunctionName(arg)) throw new UsageError(`unknown function ${arg}\n${usage}`);
    else if (!names.includes(arg)) names.push(arg);
  }
  if (all && names.length > 0)
    throw new UsageError(`give function names or --all, not both\n${usage}`);
  if (all) return { names: Object.keys(functions) as FunctionName[], dryRun, testProject };
  if (names.length === 0) throw new UsageError(usage);
  return { names, dryRun, testProject };
}
