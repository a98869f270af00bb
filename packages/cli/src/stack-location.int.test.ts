import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

/** The built tools, run as a user runs them, against a stack file left by a crashed pnpm dev. */
const run = promisify(execFile);
let tmp: string;
let staleFile: string;
let crashedPid: number;

async function tool(name: string, args: string[], stackFile = staleFile) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [join(__dirname, '..', 'dist', `${name}.js`), ...args],
      {
        env: { PATH: process.env.PATH, DEV_STACK_FILE: stackFile },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'stale-stack-'));
  staleFile = join(tmp, 'dev-stack.json');
  crashedPid = spawnSync(process.execPath, ['-e', '0']).pid!;
  // Ports nothing listens on: a tool that tried them would print a connection error.
  await writeFile(
    staleFile,
    JSON.stringify({
      ready: true,
      databaseUrl: 'postgres://postgres@127.0.0.1:9/postgres',
      pubsubEmulatorHost: '127.0.0.1:9',
      projectId: 'orders-local',
      functions: { 'place-order': 'http://127.0.0.1:9' },
      auth: {
        issuer: 'http://127.0.0.1:9',
        token: 'a.b.c',
        signingKey: { issuer: 'http://127.0.0.1:9', audience: 'orders-local', privateJwk: {} },
      },
      pid: crashedPid,
    }),
  );
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('a pnpm dev still starting (its lock held, no stack file yet)', () => {
  it.each([
    ['sagas', ['list']],
    ['dlq', ['list']],
    ['token', ['cust-1']],
    ['demo', ['--orders', '1']],
    ['orders', ['show', '6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10']],
  ])('%s says to wait for it, and starts or reads nothing', async (name, args) => {
    const dir = await mkdtemp(join(tmpdir(), 'starting-stack-'));
    try {
      // This test's own process stands for the pnpm dev that is starting.
      await writeFile(join(dir, 'dev.lock'), `${process.pid}\n`);
      const result = await tool(name, args, join(dir, 'dev-stack.json'));
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toBe(
        `${name}: pnpm dev is still starting (pid ${process.pid}): try again once it prints its ready line\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a stack file left by a pnpm dev that crashed', () => {
  it.each([
    ['sagas', ['list']],
    ['dlq', ['list']],
    ['token', ['cust-1']],
    ['demo', ['--orders', '1']],
    ['orders', ['show', '6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10']],
    ['outbox', ['list']],
  ])('%s says so, the same way, and connects to nothing', async (name, args) => {
    const result = await tool(name, args);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `${name}: ${staleFile} is left from a \`pnpm dev\` that is not running any more ` +
        `(pid ${crashedPid}): start \`pnpm dev\` again (it replaces the file), or delete ${staleFile}\n`,
    );
  });
});

describe('a stack file whose stack does not answer (no pid in it, or its pid is another program now)', () => {
  it.each([
    ['sagas', ['list']],
    ['outbox', ['list']],
    ['orders', ['show', '6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10']],
  ])('%s names the file and the way out, not a bare connection error', async (name, args) => {
    const file = join(tmp, `${name}-no-pid.json`);
    await writeFile(
      file,
      JSON.stringify({
        ready: true,
        databaseUrl: 'postgres://postgres@127.0.0.1:9/postgres',
        pubsubEmulatorHost: '127.0.0.1:9',
        projectId: 'orders-local',
        functions: { 'place-order': 'http://127.0.0.1:9' },
      }),
    );
    const result = await tool(name, args, file);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain(
      `${name}: the database at postgres://postgres@127.0.0.1:9/postgres named by ${file} does not answer (ECONNREFUSED): ` +
        `if \`pnpm dev\` is not running any more, start it again (it replaces the file), or delete ${file}\n`,
    );
    expect(result.stderr).not.toContain('connect ECONNREFUSED');
  });
});
