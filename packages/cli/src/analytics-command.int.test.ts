import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDuckDbWarehouse } from '@orders/analytics';
import { createEvent } from '@orders/events';
import { runAnalyticsCommand } from './analytics-command';

let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'analytics-command-'));
  env = { WAREHOUSE: 'duckdb', DUCKDB_PATH: join(dir, 'warehouse.duckdb') };
  const warehouse = createDuckDbWarehouse({ path: env.DUCKDB_PATH! });
  const orderId = randomUUID();
  const origin = { source: 'test', correlationId: randomUUID() };
  await warehouse.load([
    createEvent(
      'OrderPlaced',
      {
        orderId,
        customerId: 'cust-1',
        currency: 'EUR',
        items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
        totalMinor: 1299,
      },
      { ...origin, occurredAt: new Date('2026-06-01T09:00:00.000Z') },
    ),
    createEvent(
      'OrderCancelled',
      { orderId, reason: 'out_of_stock' },
      { ...origin, occurredAt: new Date('2026-06-01T09:00:00.250Z') },
    ),
  ]);
  await warehouse.close();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAnalyticsCommand(args, {
    env,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

describe('pnpm analytics', () => {
  it('alone, lists every query with a one-line description', async () => {
    const { code, stdout, stderr } = await run();
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.split('\n').filter((line) => line.startsWith('  '));
    expect(lines.map((line) => line.trim().split(/\s+/)[0])).toEqual([
      'daily-revenue',
      'funnel',
      'decline-rate',
      'latency',
    ]);
    expect(lines.every((line) => line.trim().length > 'daily-revenue'.length + 10)).toBe(true);
  });

  it('prints a query as a table', async () => {
    const { code, stdout } = await run('funnel');
    expect(code).toBe(0);
    expect(stdout).toContain(`(duckdb ${env.DUCKDB_PATH})`);
    expect(stdout).toContain(
      [
        'stage      reason        orders',
        '---------  ------------  ------',
        'placed     -                  1',
        'confirmed  -                  0',
        'cancelled  out_of_stock       1',
        'pending    -                  0',
        '(4 rows)',
      ].join('\n'),
    );
  });

  it('with --json, prints one JSON object and nothing else', async () => {
    const { code, stdout, stderr } = await run('latency', '--json');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({
      query: 'latency',
      warehouse: `duckdb ${env.DUCKDB_PATH}`,
      rows: [
        { outcome: 'all', orders: 1, p50Ms: 250, p95Ms: 250, maxMs: 250 },
        { outcome: 'confirmed', orders: 0, p50Ms: null, p95Ms: null, maxMs: null },
        { outcome: 'cancelled', orders: 1, p50Ms: 250, p95Ms: 250, maxMs: 250 },
      ],
    });
  });

  it('refuses an unknown query with the list and exit code 2', async () => {
    const { code, stdout, stderr } = await run('revenue');
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(
      /^unknown query revenue: one of daily-revenue, funnel, decline-rate, latency\n/,
    );
    expect(stderr).toContain('daily-revenue');
    const typo = await run('funel');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^unknown query funel: did you mean funnel\? \(one of /);
    const option = await run('funnel', '--jsn');
    expect(option.stderr).toMatch(/^unknown option --jsn \(did you mean --json\?\)\nusage: /);
  });

  it('refuses unknown options, extra arguments and bad settings with exit code 2', async () => {
    expect((await run('funnel', '--csv')).code).toBe(2);
    expect((await run('funnel', 'latency')).code).toBe(2);
    env.WAREHOUSE = 'snowflake';
    try {
      const { code, stderr } = await run('funnel');
      expect(code).toBe(2);
      expect(stderr).toMatch(/^invalid configuration: WAREHOUSE: /);
    } finally {
      env.WAREHOUSE = 'duckdb';
    }
  });

  it('as a program: exit codes reach the shell', () => {
    const cli = join(__dirname, '..', 'dist', 'analytics-cli.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (pnpm build)`);
    const options = { env: { ...process.env, ...env }, encoding: 'utf8' as const };
    const unknown = spawnSync(process.execPath, [cli, 'nope'], options);
    expect(unknown.status).toBe(2);
    const json = spawnSync(process.execPath, [cli, 'funnel', '--json'], options);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout).rows).toHaveLength(4);
  });
});
