import { UsageError } from '@orders/platform';
import { type FunctionName, functions } from './deployed-functions';

const usage = `usage: pnpm run deploy <function>... | --all [--dry-run | --plan-json] [--test-project <project>]
functions: ${Object.keys(functions).join(', ')}
--dry-run: print the gcloud commands as a shell script, run nothing
--plan-json: print them as a JSON array of argv arrays, run nothing (the deploy workflow runs it)
--test-project <project>: the project deployed is a test project (PAYMENT_PROVIDER=sandbox needs it)`;

export interface DeployArgs {
  names: FunctionName[];
  /** Print, run nothing: as a shell script, or as JSON argv arrays. */
  dryRun: false | 'script' | 'json';
  testProject?: string | undefined;
}

const isFunctionName = (name: string): name is FunctionName => Object.hasOwn(functions, name);

export function parseDeployArgs(argv: readonly string[]): DeployArgs {
  let all = false;
  let dryRun: DeployArgs['dryRun'] = false;
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
    else if (arg === '--dry-run' || arg === '--plan-json') {
      const mode = arg === '--dry-run' ? 'script' : 'json';
      if (dryRun && dryRun !== mode) {
        throw new UsageError(`give --dry-run or --plan-json, not both\n${usage}`);
      }
      dryRun = mode;
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}\n${usage}`);
    else if (!isFunctionName(arg)) throw new UsageError(`unknown function ${arg}\n${usage}`);
    else if (!names.includes(arg)) names.push(arg);
  }
  if (all && names.length > 0)
    throw new UsageError(`give function names or --all, not both\n${usage}`);
  if (all) return { names: Object.keys(functions) as FunctionName[], dryRun, testProject };
  if (names.length === 0) throw new UsageError(usage);
  return { names, dryRun, testProject };
}
