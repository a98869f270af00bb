import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requiredDeploySettings } from '@orders/deployment';
import { parse } from 'yaml';

/**
 * The first major of each action that runs on Node 24 (`runs.using: node24` in its
 * action.yml; GitHub retires the Node 20 runtime). An action that is not listed is refused
 * until someone checks its action.yml and adds it.
 */
export const node24Majors: Readonly<Record<string, number>> = {
  'actions/checkout': 5,
  'actions/setup-node': 5,
  'actions/setup-java': 5,
  'actions/upload-artifact': 6,
  'actions/download-artifact': 7,
  'google-github-actions/auth': 3,
  'google-github-actions/setup-gcloud': 3,
  'hashicorp/setup-terraform': 4,
};

/** What the one job that holds cloud credentials may use: nothing that runs project code. */
const credentialedActions = [
  'actions/download-artifact',
  'google-github-actions/auth',
  'google-github-actions/setup-gcloud',
];
const projectCode = /\b(pnpm|npm|npx|yarn|corepack|node|turbo|jest)\b/;
/** A shell given a file to run: in the credentialed job, one the build wrote could do anything. */
const scriptRun = /\b(sh|bash|zsh|dash|source|eval|exec)\s|(^|\s)\.{0,2}\/[\w./-]+\.sh\b/m;
const deployEnvironment = 'production';

interface Step {
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
}

interface Job {
  permissions?: Record<string, string> | string;
  environment?: string | { name?: string };
  steps?: Step[];
}

interface Workflow {
  permissions?: Record<string, string> | string;
  jobs?: Record<string, Job>;
}

/** Every workflow of a `.github/workflows` folder: file name => YAML text. */
export async function loadWorkflows(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
  const files: Record<string, string> = {};
  for (const name of names) files[name] = await readFile(join(dir, name), 'utf8');
  return files;
}

/**
 * The rules every workflow keeps (empty when they all do): read-only contents at the top;
 * every action pinned by a full commit SHA with its release tag beside it, on a major that
 * runs on Node 24; no checkout that leaves its token in .git/config; and the OIDC token
 * (`id-token: write`) only in a job of the production environment that runs no project code:
 * it downloads what a job without credentials built, authenticates and runs gcloud.
 */
export function checkWorkflowPolicy(files: Record<string, string>): string[] {
  return Object.entries(files).flatMap(([file, text]) => [
    ...checkPins(file, text),
    ...checkWorkflow(file, parse(text) as Workflow),
  ]);
}

function checkPins(file: string, text: string): string[] {
  const violations: string[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    const found = /^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+)["']?\s*(?:#\s*(\S+))?/.exec(line);
    if (!found) continue;
    const [, reference, tag] = found as unknown as [string, string, string | undefined];
    const where = `${file}:${index + 1}`;
    if (reference.startsWith('./')) continue;
    const [action, ref = ''] = reference.split('@');
    const name = action!.split('/').slice(0, 2).join('/');
    if (!/^[0-9a-f]{40}$/.test(ref)) {
      violations.push(`${where}: ${reference} is not pinned by a full commit SHA`);
      continue;
    }
    const major = /^v(\d+)(\.\d+){0,2}$/.exec(tag ?? '')?.[1];
    if (major === undefined) {
      violations.push(
        `${where}: ${name}@${ref} does not name its release tag in a comment (# vX.Y.Z)`,
      );
      continue;
    }
    const minimum = node24Majors[name];
    if (minimum === undefined) {
      violations.push(
        `${where}: ${name} is not known to run on Node 24: check its action.yml and list it`,
      );
    } else if (Number(major) < minimum) {
      violations.push(
        `${where}: ${name} ${tag} runs on an older Node than 24 (v${minimum} or later)`,
      );
    }
  }
  return violations;
}

function checkWorkflow(file: string, workflow: Workflow): string[] {
  const violations: string[] = [];
  const top = workflow.permissions;
  if (typeof top !== 'object' || Object.keys(top).length !== 1 || top.contents !== 'read') {
    violations.push(`${file}: top-level permissions must be exactly contents: read`);
  }
  for (const [jobName, job] of Object.entries(workflow.jobs ?? {})) {
    const where = `${file}: job ${jobName}`;
    const steps = job.steps ?? [];
    for (const step of steps) {
      if (actionOf(step) !== 'actions/checkout') continue;
      const persist = step.with?.['persist-credentials'];
      if (persist !== false && persist !== 'false') {
        violations.push(`${where}: a checkout without persist-credentials: false`);
      }
    }
    const permissions = job.permissions;
    const oidc =
      permissions === 'write-all' ||
      (typeof permissions === 'object' && permissions['id-token'] === 'write');
    const authenticates = steps.some((step) => actionOf(step) === 'google-github-actions/auth');
    if (!oidc && !authenticates) continue;
    const environment =
      typeof job.environment === 'object' ? job.environment.name : job.environment;
    if (environment !== deployEnvironment) {
      violations.push(
        `${where} holds cloud credentials outside the ${deployEnvironment} environment`,
      );
    }
    if (
      typeof permissions !== 'object' ||
      Object.keys(permissions).some((key) => key !== 'id-token')
    ) {
      violations.push(
        `${where} holds cloud credentials: its permissions must be id-token: write alone`,
      );
    }
    for (const step of steps) {
      const action = actionOf(step);
      if (action && !credentialedActions.includes(action)) {
        violations.push(
          `${where} holds cloud credentials and uses ${action}: build in a job without them`,
        );
      }
      if (step.run && projectCode.test(step.run)) {
        violations.push(
          `${where} holds cloud credentials and runs project code (${projectCode.exec(step.run)?.[0]}): build in a job without them`,
        );
      }
      if (step.run && (scriptRun.test(step.run) || /^(ba|z|da)?sh\b/.test(step.shell ?? ''))) {
        violations.push(
          `${where} holds cloud credentials and runs a script through a shell: check each command of the build's plan and run it without one`,
        );
      }
    }
  }
  for (const [jobName, job] of Object.entries(workflow.jobs ?? {})) {
    for (const step of job.steps ?? []) {
      if (!step.run || !/\brun deploy\b/.test(step.run)) continue;
      const given = Object.keys(step.env ?? {});
      const missing = requiredDeploySettings.filter((name) => !given.includes(name));
      if (missing.length > 0) {
        violations.push(
          `${file}: job ${jobName} runs the deploy without ${missing.join(', ')} (required, no default)`,
        );
      }
    }
  }
  return violations;
}

function actionOf(step: Step): string | undefined {
  return step.uses?.split('@')[0]?.split('/').slice(0, 2).join('/');
}
