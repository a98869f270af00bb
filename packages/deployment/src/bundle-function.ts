import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { artifactLockfile, pnpmLockedPackages } from './artifact-lockfile';
import { functions as declared, type FunctionName } from './deployed-functions';
import { isExternalPackage, packageNameOf } from './external-packages';

export interface FunctionArtifact {
  name: FunctionName;
  /** `functions/<name>/artifact` */
  dir: string;
  /** Size of index.js in bytes. */
  bundleBytes: number;
  /** The externals the bundle imports, with the exact versions installed here. */
  dependencies: Record<string, string>;
}

export interface BundleOptions {
  /**
   * The warehouse the artifact can load into: `bigquery` (as deployed: DuckDB, native and
   * large, is left out, and importing it fails with a clear error) or `duckdb` (local).
   */
  warehouse?: 'bigquery' | 'duckdb';
  /** Where to write the artifact; `functions/<name>/artifact` by default. */
  outDir?: string;
}

export class UnknownFunctionError extends Error {
  override readonly name = 'UnknownFunctionError';
}

/** Two parts of one bundle import different versions of a package an artifact installs once. */
export class ConflictingDependencyError extends Error {
  override readonly name = 'ConflictingDependencyError';
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

function isFunctionName(name: string): name is FunctionName {
  return Object.hasOwn(declared, name);
}

/**
 * Writes `functions/<name>/artifact/`: index.js (the function with the workspace packages and
 * small pure-JS dependencies bundled in), its source map, a package.json whose dependencies
 * are exactly the external packages the bundle imports at their installed versions, and the
 * package-lock.json of the whole tree pnpm installed for them (`npm ci` installs exactly
 * that). The bundle starts from the TypeScript sources (the `source` condition), so it never
 * picks up a stale dist/.
 */
export async function bundleFunction(
  repoRoot: string,
  name: string,
  options: BundleOptions = {},
): Promise<FunctionArtifact> {
  if (!isFunctionName(name)) {
    throw new UnknownFunctionError(
      `unknown function ${name}; declared: ${Object.keys(declared).join(', ')}`,
    );
  }
  const functionDir = join(repoRoot, 'functions', name);
  const artifact = await bundleEntry(repoRoot, {
    name,
    entry: join(functionDir, 'src', 'index.ts'),
    outDir: options.outDir ?? join(functionDir, 'artifact'),
    plugins: (options.warehouse ?? 'bigquery') === 'bigquery' ? [leaveOutDuckDb(name)] : [],
  });
  return { name, ...artifact };
}

/**
 * Writes the artifact of any function entry module into `outDir` as `bundleFunction` writes a
 * declared function's (the benchmarks bundle their baselines with it): the same esbuild
 * settings, the same externals, the same package.json and package-lock.json.
 */
export async function bundleEntry(
  repoRoot: string,
  {
    name,
    entry,
    outDir: dir,
    plugins = [],
  }: { name: string; entry: string; outDir: string; plugins?: Plugin[] },
): Promise<Omit<FunctionArtifact, 'name'>> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  const installed = new Map<string, Installed>();
  const result = await build({
    entryPoints: [entry],
    outfile: join(dir, 'index.js'),
    absWorkingDir: repoRoot,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    conditions: ['source'],
    sourcemap: 'linked',
    // Stack traces map to file and line without shipping the sources.
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [...plugins, externalsAtInstalledVersions(installed)],
  }).catch((error: unknown) => {
    throw new BundleError(`bundling ${name} failed: ${(error as Error).message}`, {
      cause: error,
    });
  });

  const imported = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const { path, external } of output.imports) {
      // Node's own modules, with or without `node:` (the stripe SDK requires `crypto`).
      if (external && !isBuiltin(path)) imported.add(packageNameOf(path));
    }
  }
  const dependencies = Object.fromEntries(
    [...imported].sort().map((dependency) => [dependency, installed.get(dependency)!.version]),
  );
  const packageJson = {
    name: `${name}-function`,
    private: true,
    main: 'index.js',
    engines: { node: '24' },
    dependencies,
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  const lockfile = artifactLockfile(
    { name: packageJson.name, dependencies },
    new Map([...installed].map(([dependency, { dir: from }]) => [dependency, from])),
    pnpmLockedPackages(join(repoRoot, 'pnpm-lock.yaml')),
  );
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  return { dir, bundleBytes: statSync(join(dir, 'index.js')).size, dependencies };
}

/** An external package as installed where the bundle imports it from. */
interface Installed {
  version: string;
  dir: string;
}

/**
 * Replaces DuckDB by a module that fails to load with the reason: a BigQuery artifact neither
 * installs nor ships it.
 */
function leaveOutDuckDb(name: string): Plugin {
  return {
    name: 'leave-out-duckdb',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^@duckdb\// }, ({ path }) => ({
        path,
        namespace: 'left-out',
      }));
      pluginBuild.onLoad({ filter: /.*/, namespace: 'left-out' }, ({ path }) => ({
        contents: `throw new Error(${JSON.stringify(
          `${path} is not in this artifact of ${name}: it was bundled for WAREHOUSE=bigquery`,
        )});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * Leaves the external packages to the artifact's own install and records the version and
 * directory each one has where it is imported from (Node's lookup: node_modules/<name> in
 * the importer's directory or a parent).
 */
function externalsAtInstalledVersions(installed: Map<string, Installed>): Plugin {
  return {
    name: 'externals-at-installed-versions',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^[^./]/ }, ({ path, resolveDir }) => {
        if (path.startsWith('node:')) return undefined;
        const name = packageNameOf(path);
        if (!isExternalPackage(name)) return undefined;
        const found = installedPackage(name, resolveDir);
        const seen = installed.get(name);
        if (seen && seen.version !== found.version) {
          throw new ConflictingDependencyError(
            `${name} is imported at ${seen.version} and at ${found.version} (from ${resolveDir}); align them in the catalog`,
          );
        }
        installed.set(name, found);
        return { path, external: true };
      });
    },
  };
}

function installedPackage(name: string, fromDir: string): Installed {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) {
      const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
      return { version, dir: join(dir, 'node_modules', name) };
    }
    if (dirname(dir) === dir) {
      throw new BundleError(`${name} is imported from ${fromDir} but not installed there`);
    }
  }
}
