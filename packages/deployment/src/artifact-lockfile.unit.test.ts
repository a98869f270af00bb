import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  artifactLockfile,
  type LockedPackage,
  LockfileError,
  pnpmLockedPackages,
} from './artifact-lockfile';

/**
 * A node_modules as pnpm lays it out: each package in node_modules/.pnpm/<name>@<version>/
 * node_modules/<name>, its dependencies linked beside it.
 */
let root: string;
const store = () => join(root, 'node_modules', '.pnpm');

function installPackage(
  manifest: { name: string; version: string } & Record<string, unknown>,
  links: Record<string, string> = {},
): string {
  const siblings = join(store(), `${manifest.name}@${manifest.version}`, 'node_modules');
  const dir = join(siblings, manifest.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  for (const [name, version] of Object.entries(links)) {
    symlinkSync(join(store(), `${name}@${version}`, 'node_modules', name), join(siblings, name));
  }
  return dir;
}

const integrity = (id: string) => `sha512-${Buffer.from(id).toString('base64')}`;
const locked = new Map<string, LockedPackage>(
  ['a@1.0.0', 'b@1.0.0', 'b@2.0.0', 'c@1.0.0'].map((id) => [id, { integrity: integrity(id) }]),
);
locked.set('c-darwin@1.0.0', { integrity: integrity('c-darwin@1.0.0'), os: ['darwin'] });

let installed: Map<string, string>;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lockfile-'));
  installPackage({ name: 'b', version: '1.0.0' });
  installPackage({ name: 'b', version: '2.0.0', license: 'MIT' });
  const a = installPackage(
    { name: 'a', version: '1.0.0', dependencies: { b: '^1.0.0' } },
    { b: '1.0.0' },
  );
  // c needs another b, and an optional binary for another platform that pnpm left out.
  const c = installPackage(
    {
      name: 'c',
      version: '1.0.0',
      dependencies: { b: '^2.0.0' },
      optionalDependencies: { 'c-darwin': '1.0.0' },
    },
    { b: '2.0.0' },
  );
  installed = new Map([
    ['a', a],
    ['c', c],
  ]);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const manifest = { name: 'fn-function', dependencies: { a: '1.0.0', c: '1.0.0' } };
const registry = 'https://registry.npmjs.org';

describe('artifactLockfile', () => {
  it('locks the installed tree as npm lays it out, one version per place, with its integrity', () => {
    const lock = artifactLockfile(manifest, installed, locked);
    expect(lock).toEqual({
      name: 'fn-function',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 'fn-function', dependencies: manifest.dependencies, engines: { node: '24' } },
        'node_modules/a': {
          version: '1.0.0',
          resolved: `${registry}/a/-/a-1.0.0.tgz`,
          integrity: integrity('a@1.0.0'),
          dependencies: { b: '^1.0.0' },
        },
        'node_modules/b': {
          version: '1.0.0',
          resolved: `${registry}/b/-/b-1.0.0.tgz`,
          integrity: integrity('b@1.0.0'),
        },
        'node_modules/c': {
          version: '1.0.0',
          resolved: `${registry}/c/-/c-1.0.0.tgz`,
          integrity: integrity('c@1.0.0'),
          dependencies: { b: '^2.0.0' },
          optionalDependencies: { 'c-darwin': '1.0.0' },
        },
        // b@1 is at the top already: c's b goes under c, where only c finds it.
        'node_modules/c/node_modules/b': {
          version: '2.0.0',
          resolved: `${registry}/b/-/b-2.0.0.tgz`,
          integrity: integrity('b@2.0.0'),
          license: 'MIT',
        },
        'node_modules/c-darwin': {
          version: '1.0.0',
          resolved: `${registry}/c-darwin/-/c-darwin-1.0.0.tgz`,
          integrity: integrity('c-darwin@1.0.0'),
          os: ['darwin'],
          optional: true,
        },
      },
    });
  });

  it('refuses a package pnpm-lock.yaml has no integrity for', () => {
    const withoutB = new Map([...locked].filter(([id]) => id !== 'b@2.0.0'));
    expect(() => artifactLockfile(manifest, installed, withoutB)).toThrow(
      new LockfileError('b@2.0.0 has no integrity in pnpm-lock.yaml'),
    );
  });

  it('refuses a dependency installed at another version than the artifact declares', () => {
    expect(() =>
      artifactLockfile({ ...manifest, dependencies: { a: '1.0.1' } }, installed, locked),
    ).toThrow('a is installed at 1.0.0, not 1.0.1');
  });
});

describe('pnpmLockedPackages', () => {
  it('reads every package of the repository lockfile, with the platforms of native ones', () => {
    const packages = pnpmLockedPackages(join(__dirname, '..', '..', '..', 'pnpm-lock.yaml'));
    expect(packages.get('pg@8.23.1')?.integrity).toMatch(/^sha512-/);
    expect(packages.get('@duckdb/node-bindings-darwin-arm64@1.5.6-r.1')).toMatchObject({
      os: ['darwin'],
      cpu: ['arm64'],
    });
  });
});
