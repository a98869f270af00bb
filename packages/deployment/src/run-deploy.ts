import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeployArgs } from './deploy-args';
import { parseDeployConfig } from './deploy-config';
import { deployPlan, formatStep, type Step } from './deploy-plan';
import type { FunctionName } from './deployed-functions';

export class MissingArtifactError extends Error {
  override readonly name = 'MissingArtifactError';
}

export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
}

export interface DeployIo {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  /** The repository root: gcloud runs there, and `functions/<name>/artifact` is found there. */
  root: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

function missingArtifacts(names: readonly FunctionName[], root: string): FunctionName[] {
  return names.filter(
    (name) => !existsSync(join(root, 'functions', name, 'artifact', 'package.json')),
  );
}

function run(step: Step, io: DeployIo): void {
  const [command, ...args] = step.argv;
  io.err(`$ ${formatStep(step)}`);
  const result = spawnSync(command ?? 'gcloud', args, {
    cwd: io.root,
    env: io.env,
    encoding: 'utf8',
    stdio: 'inherit',
  });
  if (result.error) throw new CommandFailedError(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new CommandFailedError(`exit ${result.status ?? result.signal}: ${formatStep(step)}`);
  }
}

/**
 * `pnpm run deploy`: deploys the named functions' artifacts in order; stops at the first
 * failing command. With --dry-run, prints the commands as a shell script and runs nothing;
 * with --plan-json, prints them as JSON argv arrays (the deploy workflow's deploy job checks
 * each against what a deploy may run, then runs it without a shell). Returns the exit code.
 */
export function runDeploy(io: DeployIo): number {
  const { names, dryRun, testProject } = parseDeployArgs(io.argv);
  const config = parseDeployConfig(io.env);
  const missing = missingArtifacts(names, io.root);
  const plan = deployPlan(names, config, { testProject });
  if (dryRun) {
    for (const name of missing)
      io.err(`note: functions/${name}/artifact is missing: run \`pnpm bundle\``);
    if (dryRun === 'json') io.out(JSON.stringify(plan.map((step) => step.argv)));
    else for (const step of plan) io.out(formatStep(step));
    return 0;
  }
  if (missing.length > 0) {
    throw new MissingArtifactError(
      `no artifact for ${missing.join(', ')} (functions/<name>/artifact): run \`pnpm bundle\` first`,
    );
  }
  for (const step of plan) run(step, io);
  io.err(`deployed ${names.join(', ')}`);
  return 0;
}
