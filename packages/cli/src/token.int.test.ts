import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type DevIssuer, startDevIssuer } from '@orders/local-stack';
import { createBearerAuth } from '@orders/runtime';

/** `pnpm run token` (dist/token.js) as a user runs it, against a dev stack file. */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'token.js');
let tmp: string;
let issuer: DevIssuer;
let stackFile: string;

async function token(args: string[], file = stackFile) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { DEV_STACK_FILE: file },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'token-test-'));
  issuer = await startDevIssuer({ audience: 'orders-local' });
  stackFile = join(tmp, 'dev-stack.json');
  const { issuer: url, audience, privateJwk } = issuer;
  await writeFile(
    stackFile,
    JSON.stringify({
      ready: true,
      databaseUrl: 'postgres://postgres@127.0.0.1:9/postgres',
      pubsubEmulatorHost: '127.0.0.1:9',
      projectId: 'orders-local',
      functions: {},
      auth: { issuer: url, token: 'a.b.c', signingKey: { issuer: url, audience, privateJwk } },
    }),
  );
});

afterAll(async () => {
  await issuer?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pnpm run token', () => {
  it("prints a token of the dev stack's issuer for the customer named, which the intake accepts", async () => {
    const authenticate = createBearerAuth({ ...issuer, realm: 'orders' });
    const named = await token(['cust-42']);
    expect(named).toMatchObject({ code: 0, stderr: '' });
    await expect(authenticate(`Bearer ${named.stdout.trim()}`)).resolves.toEqual({
      subject: 'cust-42',
    });
    const fallback = await token([]);
    await expect(authenticate(`Bearer ${fallback.stdout.trim()}`)).resolves.toEqual({
      subject: 'cust-dev',
    });
  });

  it('exits 1 without a dev stack, and 2 on a usage error', async () => {
    const none = await token(['cust-1'], join(tmp, 'none.json'));
    expect(none).toMatchObject({ code: 1, stdout: '' });
    expect(none.stderr).toMatch(/start `pnpm dev`/);
    for (const args of [['a', 'b'], ['--verbose'], ['with space']]) {
      expect(await token(args)).toMatchObject({ code: 2, stdout: '' });
    }
    expect((await token(['--verbose'])).stderr).toMatch(
      /^token: unknown option --verbose \(it takes none but --help\)\n\nusage: pnpm run token/,
    );
  });
});
