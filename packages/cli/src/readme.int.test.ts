import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type LocalStack,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  writeDevStackFile,
} from '@orders/local-stack';

/**
 * What a newcomer pastes from the README, run as pasted (from the repository's root, through
 * pnpm and its scripts) against a stack with place-order, described by a dev stack file.
 */
const run = promisify(execFile);
const root = join(__dirname, '..', '..', '..');
let tmp: string;
let database: TestDatabase;
let stack: LocalStack;
let stackFile: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'readme-test-'));
  database = await testDatabase('readme');
  stack = await startLocalStack({
    projectId: testProjectId('readme'),
    functions: ['place-order'],
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn' },
  });
  stackFile = join(tmp, 'dev-stack.json');
  await writeDevStackFile(stack, stackFile);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await database?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The README's shell block that follows `heading`, without its indentation. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const from = readme.indexOf(heading);
  expect(from).toBeGreaterThan(-1);
  const block = /```sh\n([\s\S]*?)\n\s*```/.exec(readme.slice(from));
  return block![1]!.replace(/^ {3}/gm, '');
}

describe("the README's tour", () => {
  it('places an order by hand as pasted: a token from `pnpm --silent run token`, then curl', async () => {
    const block = readmeBlock('**Place an order by hand**');
    // The one line a reader changes: the URL, theirs from the ready line.
    const [urlLine, ...rest] = block.split('\n');
    expect(urlLine).toMatch(
      /^url=http:\/\/127\.0\.0\.1:\d+ +# place-order: yours is on the ready line$/,
    );
    const script = [`url=${stack.functions['place-order']}`, ...rest].join('\n');

    const { stdout, stderr } = await run('sh', ['-e', '-c', script], {
      cwd: root,
      env: { ...process.env, DEV_STACK_FILE: stackFile },
    });
    const [products, answer, order, ...more] = stdout.trim().split('\n');
    expect(more).toEqual([]);
    expect(JSON.parse(products!)).toEqual(
      expect.arrayContaining([expect.objectContaining({ sku: 'TEA-001' })]),
    );
    const placed = JSON.parse(answer!) as { orderId: string; status: string };
    expect(placed.status).toBe('PLACED');
    // The token was cust-1's: the intake took the customer from it, and shows the order to them.
    expect(JSON.parse(order!)).toMatchObject({
      orderId: placed.orderId,
      customerId: 'cust-1',
      items: [{ sku: 'TEA-001', quantity: 2 }],
    });
    // Quiet: no build banner, nothing from pnpm.
    expect(stderr).toBe('');
  }, 60_000);

  it('tool commands print no build banner: `pnpm sagas --help` writes its usage, and nothing else', async () => {
    const { stdout, stderr } = await run('pnpm', ['sagas', '--help'], { cwd: root });
    expect(stdout).toContain('usage: pnpm sagas <command>');
    expect(stdout).not.toMatch(/turbo|Tasks:/);
    expect(stderr).not.toMatch(/turbo|Tasks:|Packages in scope/);
  }, 60_000);
});
