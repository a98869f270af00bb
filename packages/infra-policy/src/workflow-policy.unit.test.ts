import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { checkWorkflowPolicy, loadWorkflows } from './index';

const workflowsDir = join(__dirname, '..', '..', '..', '.github', 'workflows');

let workflows: Record<string, string>;

beforeAll(async () => {
  workflows = await loadWorkflows(workflowsDir);
});

/** The workflows with `file` edited; fails the test when `from` is not there to edit. */
function edited(file: string, from: string | RegExp, to: string): Record<string, string> {
  const text = workflows[file];
  if (text === undefined) throw new Error(`no ${file} in .github/workflows/`);
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file} does not contain ${String(from)}`);
  return { ...workflows, [file]: changed };
}

const lineOf = (file: string, text: string) =>
  (workflows[file] ?? '').split('\n').findIndex((line) => line.includes(text)) + 1;

describe('.github/workflows policy', () => {
  it('holds for the workflows in .github/workflows', () => {
    expect(Object.keys(workflows)).toEqual(['ci.yml', 'deploy.yml']);
    expect(checkWorkflowPolicy(workflows)).toEqual([]);
  });

  describe('fails when', () => {
    it('an action is pinned by a tag', () => {
      const line = lineOf('ci.yml', 'uses: hashicorp/setup-terraform@');
      const config = edited(
        'ci.yml',
        'hashicorp/setup-terraform@dfe3c3f87815947d99a8997f908cb6525fc44e9e # v4.0.1',
        'hashicorp/setup-terraform@v4',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        `ci.yml:${line}: hashicorp/setup-terraform@v4 is not pinned by a full commit SHA`,
      ]);
    });

    it('a pinned action does not say which release it is', () => {
      const line = lineOf('deploy.yml', 'uses: actions/upload-artifact@');
      const config = edited('deploy.yml', 'f024f # v7.0.0', 'f024f');
      expect(checkWorkflowPolicy(config)).toEqual([
        `deploy.yml:${line}: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f does not name its release tag in a comment (# vX.Y.Z)`,
      ]);
    });

    it('an action runs on Node 20', () => {
      const line = lineOf('deploy.yml', 'uses: google-github-actions/auth@');
      const config = edited(
        'deploy.yml',
        'google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093 # v3.0.0',
        'google-github-actions/auth@ba79af03959ebeac9769e648f473a284504d9193 # v2.1.10',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        `deploy.yml:${line}: google-github-actions/auth v2.1.10 runs on an older Node than 24 (v3 or later)`,
      ]);
    });

    it('an action nobody checked is added', () => {
      const line = lineOf('ci.yml', 'run: npm install --global pnpm@12.4.2');
      const config = edited(
        'ci.yml',
        '- run: npm install --global pnpm@12.4.2',
        '- uses: pnpm/action-setup@fe02b34f77f8bc703788d5817da081398fad5dd2 # v4.0.0',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        `ci.yml:${line}: pnpm/action-setup is not known to run on Node 24: check its action.yml and list it`,
      ]);
    });

    it('a checkout leaves its token in .git/config', () => {
      const config = edited(
        'ci.yml',
        /(\n {2}terraform:[\s\S]*?# v7\.0\.1)\n {8}with:\n {10}persist-credentials: false/,
        '$1',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        'ci.yml: job terraform: a checkout without persist-credentials: false',
      ]);
    });

    it('the top-level permissions give every job the OIDC token', () => {
      const config = edited(
        'deploy.yml',
        'permissions:\n  contents: read\n',
        'permissions:\n  contents: read\n  id-token: write\n',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        'deploy.yml: top-level permissions must be exactly contents: read',
      ]);
    });

    it('the build job may get an OIDC token', () => {
      const config = edited(
        'deploy.yml',
        '    permissions:\n      contents: read\n    outputs:',
        '    permissions:\n      contents: read\n      id-token: write\n    outputs:',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        'deploy.yml: job build holds cloud credentials outside the production environment',
        'deploy.yml: job build holds cloud credentials: its permissions must be id-token: write alone',
        'deploy.yml: job build holds cloud credentials and uses actions/checkout: build in a job without them',
        'deploy.yml: job build holds cloud credentials and uses actions/setup-node: build in a job without them',
        'deploy.yml: job build holds cloud credentials and runs project code (npm): build in a job without them',
        'deploy.yml: job build holds cloud credentials and runs project code (pnpm): build in a job without them',
        'deploy.yml: job build holds cloud credentials and runs project code (pnpm): build in a job without them',
        "deploy.yml: job build holds cloud credentials and runs a script through a shell: check each command of the build's plan and run it without one",
        'deploy.yml: job build holds cloud credentials and runs project code (pnpm): build in a job without them',
        'deploy.yml: job build holds cloud credentials and runs project code (pnpm): build in a job without them',
        'deploy.yml: job build holds cloud credentials and uses actions/upload-artifact: build in a job without them',
      ]);
    });

    it('the deploy job builds as well', () => {
      const config = edited(
        'deploy.yml',
        '      - name: Deploy the checked plan',
        '      - run: pnpm install --frozen-lockfile && pnpm bundle\n      - name: Deploy the checked plan',
      );
      expect(checkWorkflowPolicy(config)).toEqual([
        'deploy.yml: job deploy holds cloud credentials and runs project code (pnpm): build in a job without them',
      ]);
    });

    it('the deploy job runs a script the build job wrote, through a shell', () => {
      for (const run of ['sh -eu deploy.sh', 'bash deploy.sh', './deploy.sh', 'source deploy.sh']) {
        const config = edited(
          'deploy.yml',
          '      - name: Deploy the checked plan',
          `      - run: ${run}\n      - name: Deploy the checked plan`,
        );
        expect(checkWorkflowPolicy(config)).toEqual([
          "deploy.yml: job deploy holds cloud credentials and runs a script through a shell: check each command of the build's plan and run it without one",
        ]);
      }
    });

    it('the deploy runs without a setting it requires', () => {
      const config = edited('deploy.yml', /\n {10}AUTH_JWKS_URL: .*/, '');
      expect(checkWorkflowPolicy(config)).toEqual([
        'deploy.yml: job build runs the deploy without AUTH_JWKS_URL (required, no default)',
      ]);
    });

    it('the deploy job leaves the production environment', () => {
      const config = edited('deploy.yml', '    environment: production\n', '');
      expect(checkWorkflowPolicy(config)).toEqual([
        'deploy.yml: job deploy holds cloud credentials outside the production environment',
      ]);
    });
  });
});
