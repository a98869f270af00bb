// Which deployable functions a change touches. Pure, erasable TypeScript only: Node runs it
// directly from .github/scripts/changed-functions.mjs (the deploy workflow), no build needed.

/** A workspace's package.json, as far as deploy inputs go. */
export interface WorkspaceManifest {
  /** Relative to the repository root: `packages/db`, `functions/place-order`. */
  dir: string;
  name: string;
  dependencies?: Record<string, string> | undefined;
}

/**
 * Files every function's artifact depends on besides its own workspace packages: the lockfile
 * and catalog fix third-party versions, the compiler settings and the bundler/deploy tooling
 * shape the artifact and its deployment.
 */
export const sharedInputs: readonly string[] = [
  'pnpm-lock.yaml',
  'pnpm-workspace.yaml',
  '.npmrc',
  'tsconfig.base.json',
  'packages/deployment/',
];

export class UnknownFunctionError extends Error {
  override readonly name = 'UnknownFunctionError';
}

/**
 * The path prefixes whose change requires redeploying `fn`: functions/<fn>/, every workspace
 * package it depends on at run time (`dependencies`, transitively; dev dependencies are not in
 * the artifact) and the shared inputs.
 */
export function functionInputs(workspaces: readonly WorkspaceManifest[], fn: string): string[] {
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const own = workspaces.find((w) => w.dir === `functions/${fn}`);
  if (!own) throw new UnknownFunctionError(`no workspace functions/${fn}`);
  const dirs = new Set<string>();
  const pending = [own];
  for (let workspace = pending.pop(); workspace; workspace = pending.pop()) {
    if (dirs.has(workspace.dir)) continue;
    dirs.add(workspace.dir);
    for (const dependency of Object.keys(workspace.dependencies ?? {})) {
      const next = byName.get(dependency);
      if (next) pending.push(next);
    }
  }
  return [...[...dirs].sort().map((dir) => `${dir}/`), ...sharedInputs];
}

/** Tests are not part of any artifact. */
const testFile = /\.test\.ts$/;

/** The functions of `functionNames` whose inputs contain one of `changedFiles`, in order. */
export function changedFunctions(
  workspaces: readonly WorkspaceManifest[],
  functionNames: readonly string[],
  changedFiles: readonly string[],
): string[] {
  return functionNames.filter((fn) => {
    const inputs = functionInputs(workspaces, fn);
    return changedFiles.some(
      (file) =>
        !testFile.test(file) &&
        inputs.some((input) => (input.endsWith('/') ? file.startsWith(input) : file === input)),
    );
  });
}
