// Prints the functions to redeploy for the commits base..head, space-separated:
//   pnpm exec node .github/scripts/changed-functions.mjs <base-sha> <head-sha>
// (Node 24 runs the TypeScript it imports as is.) Every function when base is missing, all
// zeros (a new branch) or unknown (a force push). In GitHub Actions it also writes
// `functions=<names>` to $GITHUB_OUTPUT.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { changedFunctions } from '../../packages/infra-policy/src/function-inputs.ts';

const root = join(import.meta.dirname, '..', '..');

function readWorkspaces() {
  return ['packages', 'functions'].flatMap((parent) =>
    readdirSync(join(root, parent))
      .filter((dir) => existsSync(join(root, parent, dir, 'package.json')))
      .map((dir) => {
        const manifest = JSON.parse(readFileSync(join(root, parent, dir, 'package.json'), 'utf8'));
        return {
          dir: `${parent}/${dir}`,
          name: manifest.name,
          dependencies: manifest.dependencies,
        };
      }),
  );
}

const [base, head = 'HEAD'] = process.argv.slice(2);
const workspaces = readWorkspaces();
const functionNames = workspaces
  .filter((w) => w.dir.startsWith('functions/'))
  .map((w) => w.dir.slice('functions/'.length))
  .sort();
const known = (commit) => {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// A force push leaves `before` outside the history: nothing to diff against.
const everything = !base || /^0+$/.test(base) || !known(base);
const changedFiles = everything
  ? []
  : execFileSync('git', ['diff', '--name-only', base, head], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
const selected = everything
  ? functionNames
  : changedFunctions(workspaces, functionNames, changedFiles);

process.stdout.write(`${selected.join(' ')}\n`);
if (process.env.GITHUB_OUTPUT) {
  appendFileSync(process.env.GITHUB_OUTPUT, `functions=${selected.join(' ')}\n`);
}
