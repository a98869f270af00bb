#!/usr/bin/env node
import { join } from 'node:path';
import { messageOf } from '@orders/platform';
import { bundleFunction } from './bundle-function';
import { functions as declared } from './deployed-functions';

/**
 * `pnpm bundle [<function>...]`: writes functions/<name>/artifact/ for the named functions,
 * or every declared one, and prints each bundle's size.
 */
async function main(): Promise<void> {
  const repoRoot = join(__dirname, '..', '..', '..');
  const requested = process.argv.slice(2);
  const names = requested.length > 0 ? requested : Object.keys(declared);
  for (const name of names) {
    const artifact = await bundleFunction(repoRoot, name);
    const kib = (artifact.bundleBytes / 1024).toFixed(1);
    const dependencies = Object.entries(artifact.dependencies)
      .map(([dependency, version]) => `${dependency}@${version}`)
      .join(' ');
    process.stdout.write(`${name}: index.js ${kib} KiB; installs ${dependencies}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${messageOf(error)}\n`);
  process.exitCode = 1;
});
