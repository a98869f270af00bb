import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  claimDevStack,
  isProcessAlive,
  type LocalStack,
  pidIn,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  writeDevStackFile,
} from '@orders/local-stack';

/**
 * `pnpm demo` (dist/demo.js) as a user runs it, against a stack of every built function:
 * real PostgreSQL, the emulator, functions-framework processes.
 */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'demo.js');
let tmp: string;
let database: TestDatabase;
let stack: LocalStack;
/** What the stack's functions print; shown when a test fails. */
let functionOutput = '';

async function demo(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: {
        DEV_STACK_FILE: join(tmp, 'no-dev-stack.json'),
        DUCKDB_PATH: join(tmp, 'warehouse.duckdb'),
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function sink() {
  const stream = new PassThrough();
  stream.on('data', (chunk) => {
    functionOutput = `${functionOutput}${chunk}`.slice(-20_000);
  });
  return stream;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'demo-test-'));
  database = await testDatabase('demo');
  stack = await startLocalStack({
    projectId: testProjectId('demo'),
    functions: 'all-existing',
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      DUCKDB_PATH: join(tmp, 'warehouse.duckdb'),
      LOG_LEVEL: 'warn',
    },
    functionStdout: sink(),
    functionStderr: sink(),
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await database?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The stack as `pnpm dev` describes it, in a dev stack file: the demo's customers get their tokens from its issuer. */
async function devStackOf(running: LocalStack, name: string) {
  const path = join(tmp, `${name}.json`);
  await writeDevStackFile(running, path);
  return path;
}

const stackEnv = async () => ({ DEV_STACK_FILE: await devStackOf(stack, 'dev-stack') });

interface DemoJson {
  placed: number;
  confirmed: number;
  cancelled: number;
  pending: number;
  deadLettered: number;
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  needsAttention: number;
  notPlaced: number;
}

describe('pnpm demo against the running pipeline', () => {
  it('places the mix, waits until every order is final, and prints one JSON object', async () => {
    const result = await demo(
      ['--orders', '12', '--json', '--seed', '7', '--timeout', '90'],
      await stackEnv(),
    );
    expect({ code: result.code, stderr: result.stderr, functionOutput }).toMatchObject({ code: 0 });
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    const summary = JSON.parse(result.stdout) as DemoJson;
    expect(summary).toEqual({
      placed: 12,
      confirmed: expect.any(Number),
      cancelled: expect.any(Number),
      pending: 0,
      deadLettered: 0,
      p50LatencyMs: expect.any(Number),
      p95LatencyMs: expect.any(Number),
      needsAttention: 0,
      notPlaced: 0,
    });
    expect(summary.confirmed + summary.cancelled).toBe(summary.placed);
    // Seed 7's mix of 12 holds one out-of-stock, one declined and one no-funds order.
    expect(summary.cancelled).toBeGreaterThanOrEqual(3);
    expect(summary.confirmed).toBeGreaterThanOrEqual(1);
    expect(summary.p50LatencyMs!).toBeLessThanOrEqual(summary.p95LatencyMs!);
    expect(result.stderr).toContain('demo: placing 12 orders (seed 7');

    // The summary is what the database holds.
    const rows = await database.db
      .selectFrom('orders')
      .select(['status', 'cancel_reason'])
      .execute();
    expect(rows).toHaveLength(12);
    expect(rows.filter((row) => row.status === 'CONFIRMED')).toHaveLength(summary.confirmed);
    expect(rows.filter((row) => row.status === 'CANCELLED')).toHaveLength(summary.cancelled);
    expect(new Set(rows.map((row) => row.cancel_reason))).toEqual(
      new Set([null, 'out_of_stock', 'payment_declined']),
    );
  }, 120_000);

  it('prints the summary table by scenario and the analytics of the warehouse', async () => {
    const result = await demo(
      ['--orders', '6', '--seed', '3', '--timeout', '90'],
      await stackEnv(),
    );
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
    const { stdout } = result;
    expect(stdout).toMatch(/^placed\s+6$/m);
    expect(stdout).toMatch(/^pending\s+0$/m);
    expect(stdout).toMatch(/^dead-lettered \(on the DLQs now\)\s+0$/m);
    expect(stdout).toMatch(/^placed -> final p95\s+\d+ ms$/m);
    expect(stdout).toMatch(/^out-of-stock\s+1\s+0\s+1\s+0\s+0\s+0$/m);
    expect(stdout).toMatch(/^standard\s+4\s+4\s+0\s+0\s+0\s+0$/m);
    // The whole stack's sagas at a glance: none parked, none overdue.
    expect(stdout).toMatch(/^sagas \(the whole stack\): no saga parked or overdue$/m);
    // Both runs are in the warehouse: 18 orders placed.
    expect(stdout).toMatch(/analytics \(duckdb .*, every order since pnpm dev started\)/);
    expect(stdout).toMatch(/^funnel: /m);
    expect(stdout).toMatch(/^placed\s+-\s+18$/m);
    expect(stdout).toMatch(/^latency: /m);
    expect(stdout).toMatch(/^all\s+18\s+\d+\s+\d+\s+\d+$/m);
  }, 120_000);
});

describe('pnpm demo on a stack whose shelves earlier runs emptied', () => {
  it('says, before placing anything, which products are short for the load', async () => {
    const emptied = await testDatabase('demo-emptied');
    const shelves = await startLocalStack({
      projectId: testProjectId('demo-emptied'),
      functions: ['place-order'],
      env: { ...process.env, DATABASE_URL: emptied.url, LOG_LEVEL: 'warn' },
      functionStdout: sink(),
      functionStderr: sink(),
    });
    try {
      await emptied.db.updateTable('products').set({ stock: 0 }).execute();
      const result = await demo(['--orders', '4', '--seed', '7', '--json', '--timeout', '1'], {
        DEV_STACK_FILE: await devStackOf(shelves, 'emptied'),
      });
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      expect(result.stderr).toMatch(
        /demo: the catalog is short for this load \([A-Z0-9-]+ has 0, the mix asks for \d+[^)]*\): orders past the stock will be cancelled out_of_stock \(restart pnpm dev for a fresh catalog\)/,
      );
      expect(result.stderr.indexOf('the catalog is short')).toBeLessThan(
        result.stderr.indexOf('still pending'),
      );
    } finally {
      await shelves.stop();
      await emptied.close();
    }
  }, 60_000);
});

describe('pnpm demo without a running stack', () => {
  it('starts one of its own, runs, and stops every process it started', async () => {
    const own = await testDatabase('demo-own');
    try {
      const running = demo(['--orders', '4', '--json', '--timeout', '90'], {
        DATABASE_URL: own.url,
        PUBSUB_EMULATOR_HOST: stack.pubsubEmulatorHost,
        // At info, every function has something to say: what it says must go to the file.
        LOG_LEVEL: 'info',
      });
      // While its stack runs, the demo holds the checkout as pnpm dev does: a pnpm dev
      // started meanwhile finds it there (and wipes nothing), and it is let go at the end.
      const lock = join(tmp, 'dev.lock');
      let held: number | undefined;
      for (let i = 0; i < 600 && held === undefined; i++) {
        held = await pidIn(lock);
        if (held === undefined) await sleep(50);
      }
      expect(held).toEqual(expect.any(Number));
      const second = await claimDevStack(join(tmp, 'no-dev-stack.json'), process.pid);
      expect(second).toMatchObject({ pid: held });
      const result = await running;
      expect(await pidIn(lock)).toBeUndefined();
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      expect(JSON.parse(result.stdout)).toMatchObject({ placed: 4, pending: 0 });
      expect(result.stderr).toContain('demo: no running stack: starting one');
      expect(result.stderr).toContain('demo: stopping the stack it started');
      // Its own DATABASE_URL: the warehouse is kept, as pnpm dev keeps it.
      expect(result.stderr).not.toContain('fresh local warehouse');
      const pids = [...result.stderr.matchAll(/function \S+ ready \(pid (\d+)\)/g)].map((m) =>
        Number(m[1]),
      );
      expect(pids.length).toBeGreaterThanOrEqual(3);
      expect(pids.filter(isProcessAlive)).toEqual([]);
      // The functions' logs went to a file beside the (absent) dev stack file, not to stderr.
      const functionLog = await readFile(join(tmp, 'demo-stack.log'), 'utf8');
      expect(functionLog.match(/^place-order \| \{.*"message":"order placed"/gm)).toHaveLength(4);
      expect(functionLog).toMatch(/^process-order \| \{.*"message":"event handled"/m);
      expect(functionLog).toMatch(/^payment-handler \| \{.*"message":"event handled"/m);
      expect(result.stderr).not.toMatch(/^(place-order|process-order|payment-handler) \| /m);
    } finally {
      await own.close();
    }
  }, 120_000);
});

describe('pnpm demo without a running stack or a database', () => {
  it("starts afresh each time, as pnpm dev does: the analytics are the run's own", async () => {
    const warehouse = join(tmp, 'own-warehouse.duckdb');
    const runOwn = () =>
      demo(['--orders', '3', '--seed', '5', '--timeout', '90'], {
        DUCKDB_PATH: warehouse,
        PUBSUB_EMULATOR_HOST: stack.pubsubEmulatorHost,
        LOG_LEVEL: 'warn',
      });
    for (const round of [1, 2]) {
      const result = await runOwn();
      expect({ round, code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      expect(result.stderr).toContain(`demo: fresh local warehouse at ${warehouse}`);
      expect(result.stdout).toMatch(/^placed\s+3$/m);
      // The second run reports its own 3 orders, not the 6 of both runs.
      expect(result.stdout).toMatch(
        /analytics \(duckdb .*, this run's orders: the stack it started began with a fresh warehouse\)/,
      );
      expect(result.stdout).toMatch(/^placed\s+-\s+3$/m);
      expect(result.stdout).toMatch(/^sagas \(the whole stack\): no saga parked or overdue$/m);
      expect(result.stderr).not.toContain('the catalog is short');
    }
  }, 240_000);
});

describe('pnpm demo when orders do not become final', () => {
  it('still exits 0 at the timeout, and says how many are pending', async () => {
    const intakeOnly = await testDatabase('demo-intake-only');
    const partial = await startLocalStack({
      projectId: testProjectId('demo-intake-only'),
      functions: ['place-order'],
      env: { ...process.env, DATABASE_URL: intakeOnly.url, LOG_LEVEL: 'warn' },
      functionStdout: sink(),
      functionStderr: sink(),
    });
    try {
      const result = await demo(['--orders', '3', '--json', '--timeout', '1'], {
        DEV_STACK_FILE: await devStackOf(partial, 'partial'),
      });
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      expect(JSON.parse(result.stdout)).toEqual({
        placed: 3,
        confirmed: 0,
        cancelled: 0,
        pending: 3,
        deadLettered: 0,
        p50LatencyMs: null,
        p95LatencyMs: null,
        needsAttention: 0,
        notPlaced: 0,
      });
      expect(result.stderr).toContain('demo: 3 order(s) still pending after 1 s');
    } finally {
      await partial.stop();
      await intakeOnly.close();
    }
  }, 60_000);
});

describe('pnpm demo failures', () => {
  it('exits 1 when the stack cannot be reached, with nothing on stdout', async () => {
    const result = await demo(['--orders', '2', '--json'], {
      ...(await stackEnv()),
      PLACE_ORDER_URL: 'http://127.0.0.1:9',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /cannot reach the stack: GET \/products: no answer from http:\/\/127\.0\.0\.1:9/,
    );
  }, 30_000);

  it('exits 1 when the dev stack file is stale, and says what to do', async () => {
    const stale = join(tmp, 'stale-dev-stack.json');
    await writeFile(
      stale,
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
      }),
    );
    const result = await demo(['--orders', '2'], { DEV_STACK_FILE: stale });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`(from ${stale})`);
    expect(result.stderr).toContain(`if \`pnpm dev\` is not running any more, delete ${stale}`);

    await writeFile(stale, 'not json');
    const corrupt = await demo(['--orders', '2'], { DEV_STACK_FILE: stale });
    expect(corrupt).toMatchObject({ code: 1, stdout: '' });
    expect(corrupt.stderr).toContain(`${stale} is not JSON: delete it or restart pnpm dev`);
  }, 30_000);

  it('exits 2 on a usage error', async () => {
    const result = await demo(['--orders', '0'], {});
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/--orders must be between 1 and 10000[\s\S]*usage: pnpm demo/);
  });
});
