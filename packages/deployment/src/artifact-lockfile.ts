import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** What an artifact's package.json declares: its name and exact dependencies. */
export interface ArtifactManifest {
  name: string;
  dependencies: Record<string, string>;
}

/** A package-lock.json (lockfileVersion 3), as `npm ci` reads it. */
export interface PackageLock {
  name: string;
  lockfileVersion: 3;
  requires: true;
  packages: Record<string, Record<string, unknown>>;
}

export class LockfileError extends Error {
  override readonly name = 'LockfileError';
}

interface InstalledPackage {
  /** The real directory pnpm installed it in (node_modules/.pnpm/<id>/node_modules/<name>). */
  dir: string;
  name: string;
  version: string;
  manifest: PackageManifest;
}

interface PackageManifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  bin?: string | Record<string, string>;
  license?: string;
}

/** A package as pnpm-lock.yaml resolved it: its integrity and the platforms it installs on. */
export interface LockedPackage {
  integrity: string;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  engines?: Record<string, string>;
}

/** Every package pnpm-lock.yaml resolved, by `name@version`. */
export function pnpmLockedPackages(lockfilePath: string): Map<string, LockedPackage> {
  const locked = new Map<string, LockedPackage>();
  for (const document of parseAllDocuments(readFileSync(lockfilePath, 'utf8'))) {
    const packages = (document.toJS() as { packages?: Record<string, unknown> } | null)?.packages;
    for (const [key, value] of Object.entries(packages ?? {})) {
      const entry = value as Omit<LockedPackage, 'integrity'> & {
        resolution?: { integrity?: string };
      };
      const integrity = entry.resolution?.integrity;
      if (!integrity) continue;
      locked.set(key, {
        integrity,
        ...(entry.os && { os: entry.os }),
        ...(entry.cpu && { cpu: entry.cpu }),
        ...(entry.libc && { libc: entry.libc }),
        ...(entry.engines && { engines: entry.engines }),
      });
    }
  }
  return locked;
}

/**
 * The package-lock.json of an artifact: exactly the packages pnpm installed here for its
 * dependencies (the versions the tests ran against), laid out as npm installs them (each
 * package as high in node_modules as it can go without shadowing another version), each with
 * pnpm-lock.yaml's integrity, so that `npm ci` in Cloud Build installs those and nothing else.
 * `installed` gives the directory each direct dependency was resolved to.
 */
export function artifactLockfile(
  manifest: ArtifactManifest,
  installed: ReadonlyMap<string, string>,
  locked: ReadonlyMap<string, LockedPackage>,
): PackageLock {
  const root: Record<string, unknown> = {
    name: manifest.name,
    dependencies: manifest.dependencies,
    engines: { node: '24' },
  };
  const packages: Record<string, Record<string, unknown>> = { '': root };
  /** Lock location ('' is the artifact) => the package placed there. */
  const placed = new Map<string, InstalledPackage>();
  /** Locations whose dependencies are still to place, breadth first; `optional` when only optional edges reach it. */
  const pending: { location: string; pkg: InstalledPackage; optional: boolean }[] = [];

  const place = (from: string, pkg: InstalledPackage, optional: boolean): void => {
    // Node's lookup from `from`: its own node_modules, then each ancestor's.
    const chain = ancestors(from);
    for (const location of chain) {
      const found = placed.get(nodeModules(location, pkg.name));
      if (!found) continue;
      if (found.version === pkg.version) {
        if (!optional) delete packages[nodeModules(location, pkg.name)]?.optional;
        return;
      }
      // Another version is visible from here: this one goes right under the dependent.
      add(nodeModules(from, pkg.name), pkg, optional);
      return;
    }
    add(nodeModules('', pkg.name), pkg, optional);
  };

  const add = (location: string, pkg: InstalledPackage, optional: boolean): void => {
    placed.set(location, pkg);
    packages[location] = lockEntry(pkg, locked, optional);
    pending.push({ location, pkg, optional });
  };

  /**
   * An optional dependency pnpm left out, being for another platform (a native binary): npm
   * still wants it in the lock, with the platforms it installs on, to skip it itself.
   */
  const lockOtherPlatform = (from: string, name: string, version: string | undefined): void => {
    const found = locked.get(`${name}@${version}`);
    if (!found) {
      throw new LockfileError(
        `optional ${name}@${version} is in neither node_modules nor pnpm-lock.yaml`,
      );
    }
    const visible = ancestors(from).some((location) => packages[nodeModules(location, name)]);
    if (visible) return;
    const location = placed.has(nodeModules('', name))
      ? nodeModules(from, name)
      : nodeModules('', name);
    const { integrity, ...platform } = found;
    packages[location] = {
      version,
      resolved: registryUrl(name, version!),
      integrity,
      ...platform,
      optional: true,
    };
  };

  for (const [name, version] of Object.entries(manifest.dependencies)) {
    const dir = installed.get(name);
    if (!dir) throw new LockfileError(`${manifest.name}: no installed directory for ${name}`);
    const pkg = readInstalled(dir);
    if (pkg.version !== version) {
      throw new LockfileError(`${name} is installed at ${pkg.version}, not ${version}`);
    }
    place('', pkg, false);
  }
  for (let next = pending.shift(); next; next = pending.shift()) {
    for (const { name, optional } of edgesOf(next.pkg.manifest)) {
      const dir = installedDependency(next.pkg.dir, name);
      if (!dir && optional) {
        lockOtherPlatform(next.location, name, next.pkg.manifest.optionalDependencies?.[name]);
        continue;
      }
      if (!dir) {
        throw new LockfileError(
          `${next.pkg.name}@${next.pkg.version} needs ${name}, which is not installed`,
        );
      }
      place(next.location, readInstalled(dir), next.optional || optional);
    }
  }
  return { name: manifest.name, lockfileVersion: 3, requires: true, packages };
}

/** The dependencies npm installs for a package: regular, optional, and non-optional peers. */
function edgesOf(manifest: PackageManifest): { name: string; optional: boolean }[] {
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter(
    (name) => !manifest.peerDependenciesMeta?.[name]?.optional,
  );
  return [
    ...Object.keys(manifest.dependencies ?? {}).map((name) => ({ name, optional: false })),
    ...peers.map((name) => ({ name, optional: false })),
    ...Object.keys(manifest.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
  ];
}

function registryUrl(name: string, version: string): string {
  return `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${version}.tgz`;
}

function lockEntry(
  pkg: InstalledPackage,
  locked: ReadonlyMap<string, LockedPackage>,
  optional: boolean,
): Record<string, unknown> {
  const integrity = locked.get(`${pkg.name}@${pkg.version}`)?.integrity;
  if (!integrity) {
    throw new LockfileError(`${pkg.name}@${pkg.version} has no integrity in pnpm-lock.yaml`);
  }
  const { manifest } = pkg;
  const basename = pkg.name.split('/').pop();
  const entry: Record<string, unknown> = {
    version: pkg.version,
    resolved: registryUrl(pkg.name, pkg.version),
    integrity,
  };
  if (manifest.license) entry.license = manifest.license;
  for (const field of [
    'dependencies',
    'optionalDependencies',
    'peerDependencies',
    'peerDependenciesMeta',
  ] as const) {
    if (manifest[field] && Object.keys(manifest[field]).length > 0) entry[field] = manifest[field];
  }
  if (manifest.bin) {
    entry.bin = typeof manifest.bin === 'string' ? { [basename!]: manifest.bin } : manifest.bin;
  }
  if (manifest.engines) entry.engines = manifest.engines;
  if (manifest.os) entry.os = manifest.os;
  if (manifest.cpu) entry.cpu = manifest.cpu;
  if (optional) entry.optional = true;
  return entry;
}

function readInstalled(dir: string): InstalledPackage {
  const real = realpathSync(dir);
  const manifest = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as PackageManifest;
  return { dir: real, name: manifest.name, version: manifest.version, manifest };
}

/**
 * Where pnpm linked a package's dependency: beside it in node_modules/.pnpm/<id>/node_modules
 * (never a hoisted copy that Node would find further up by accident).
 */
function installedDependency(packageDir: string, name: string): string | undefined {
  const store = /^(.*\/node_modules\/\.pnpm\/[^/]+\/node_modules)\//.exec(packageDir)?.[1];
  const candidates = store
    ? [join(store, name)]
    : lookupChain(packageDir).map((dir) => join(dir, 'node_modules', name));
  return candidates.find((candidate) => existsSync(join(candidate, 'package.json')));
}

function lookupChain(from: string): string[] {
  const dirs = [from];
  while (dirname(dirs.at(-1)!) !== dirs.at(-1)) dirs.push(dirname(dirs.at(-1)!));
  return dirs;
}

function nodeModules(location: string, name: string): string {
  return location ? `${location}/node_modules/${name}` : `node_modules/${name}`;
}

/** A lock location and every location above it whose node_modules Node searches, innermost first. */
function ancestors(location: string): string[] {
  const chain = [location];
  for (let at = location; at; ) {
    const cut = at.lastIndexOf('/node_modules/');
    at = cut === -1 ? '' : at.slice(0, cut);
    chain.push(at);
  }
  return chain;
}
