import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { functions } from '@orders/deployment';
import {
  changedFunctions,
  functionInputs,
  sharedInputs,
  type WorkspaceManifest,
} from './function-inputs';

const root = join(__dirname, '..', '..', '..');

const workspaces: WorkspaceManifest[] = [
  { dir: 'packages/events', name: '@orders/events', dependencies: { zod: '4' } },
  { dir: 'packages/db', name: '@orders/db', dependencies: { '@orders/events': 'workspace:*' } },
  {
    dir: 'packages/ordering',
    name: '@orders/ordering',
    dependencies: { '@orders/db': 'workspace:*' },
  },
  { dir: 'packages/analytics', name: '@orders/analytics' },
  {
    dir: 'functions/place-order',
    name: '@orders/place-order',
    dependencies: { '@orders/ordering': 'workspace:*' },
  },
  {
    dir: 'functions/analytics-loader',
    name: '@orders/analytics-loader',
    dependencies: { '@orders/analytics': 'workspace:*' },
  },
];
const names = ['analytics-loader', 'place-order'];

async function repositoryWorkspaces(): Promise<WorkspaceManifest[]> {
  const found: WorkspaceManifest[] = [];
  for (const parent of ['packages', 'functions']) {
    for (const dir of await readdir(join(root, parent))) {
      const text = await readFile(join(root, parent, dir, 'package.json'), 'utf8').catch(
        () => null,
      );
      if (text === null) continue;
      const manifest = JSON.parse(text);
      found.push({
        dir: `${parent}/${dir}`,
        name: manifest.name,
        dependencies: manifest.dependencies,
      });
    }
  }
  return found;
}

describe('functionInputs', () => {
  it('is the function, its workspace dependencies transitively, and the shared inputs', () => {
    expect(functionInputs(workspaces, 'place-order')).toEqual([
      'functions/place-order/',
      'packages/db/',
      'packages/events/',
      'packages/ordering/',
      ...sharedInputs,
    ]);
    expect(sharedInputs).toContain('pnpm-lock.yaml');
  });

  it('rejects a function without a workspace', () => {
    expect(() => functionInputs(workspaces, 'nope')).toThrow('no workspace functions/nope');
  });

  it('follows the real manifests of every function', async () => {
    const real = await repositoryWorkspaces();
    for (const fn of Object.keys(functions)) {
      const inputs = functionInputs(real, fn);
      expect(inputs).toContain(`functions/${fn}/`);
      expect(inputs).toContain('packages/events/');
      expect(inputs).not.toContain('packages/local-stack/');
    }
  });
});

describe('changedFunctions', () => {
  it('selects the functions whose inputs changed', () => {
    expect(changedFunctions(workspaces, names, ['packages/events/src/catalog.ts'])).toEqual([
      'place-order',
    ]);
    expect(changedFunctions(workspaces, names, ['packages/analytics/src/a.ts'])).toEqual([
      'analytics-loader',
    ]);
    expect(changedFunctions(workspaces, names, ['functions/place-order/src/index.ts'])).toEqual([
      'place-order',
    ]);
  });

  it('selects every function when the lockfile changes', () => {
    expect(changedFunctions(workspaces, names, ['pnpm-lock.yaml'])).toEqual(names);
  });

  it('ignores tests, which no artifact contains', () => {
    expect(
      changedFunctions(workspaces, names, ['functions/place-order/src/place-order.int.test.ts']),
    ).toEqual([]);
  });

  it('selects none for files no function is built from', () => {
    expect(
      changedFunctions(workspaces, names, [
        'README.md',
        'infra/pubsub.tf',
        'functions/place-orderx/a',
      ]),
    ).toEqual([]);
  });
});
