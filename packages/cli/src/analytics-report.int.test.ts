import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AuditableWarehouse, createDuckDbWarehouse } from '@orders/analytics';
import { createEvent } from '@orders/events';
import { analyticsReport } from './analytics-report';

/** The demo's analytics part on a real DuckDB warehouse file, loaded behind the demo's back. */
let dir: string;
let warehouse: AuditableWarehouse;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'analytics-report-'));
  warehouse = createDuckDbWarehouse({ path: join(dir, 'warehouse.duckdb') });
});

afterAll(async () => {
  await warehouse?.close();
  await rm(dir, { recursive: true, force: true });
});

function order(finalAfterMs: number, outcome: 'confirmed' | 'out_of_stock') {
  const orderId = randomUUID();
  const placedAt = new Date('2026-03-01T10:00:00.000Z');
  const origin = { source: 'test', correlationId: randomUUID() };
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId,
      customerId: 'cust-1',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    { ...origin, occurredAt: placedAt },
  );
  const finalAt = new Date(placedAt.getTime() + finalAfterMs);
  const final =
    outcome === 'confirmed'
      ? createEvent(
          'OrderConfirmed',
          { orderId, totalMinor: 1299, currency: 'EUR' },
          { ...origin, occurredAt: finalAt },
        )
      : createEvent(
          'OrderCancelled',
          { orderId, reason: 'out_of_stock' },
          { ...origin, occurredAt: finalAt },
        );
  return { orderId, placed, final };
}

describe('analyticsReport', () => {
  it('waits for the final events of the run, then shows the funnel and the latencies', async () => {
    const confirmed = order(1200, 'confirmed');
    const cancelled = order(300, 'out_of_stock');
    await warehouse.load([confirmed.placed, cancelled.placed]);
    // The loader is behind: the final events arrive only once the report has looked and not
    // found them, so it has to wait for them.
    const seen: string[][] = [];
    let late: Promise<void> | undefined;
    const behind: AuditableWarehouse = {
      ...warehouse,
      async auditEvents(filter) {
        const audit = await warehouse.auditEvents(filter);
        seen.push(audit.map((row) => row.eventType).sort());
        late ??= warehouse.load([confirmed.final, cancelled.final]);
        return audit;
      },
    };

    const report = await analyticsReport({
      warehouse: behind,
      orderIds: [confirmed.orderId, cancelled.orderId],
      waitMs: 15_000,
      pollIntervalMs: 100,
    });
    await late;
    expect(seen[0]).toEqual(['OrderPlaced', 'OrderPlaced']);
    expect(seen.at(-1)).toEqual(['OrderCancelled', 'OrderConfirmed', 'OrderPlaced', 'OrderPlaced']);
    expect(report.notLoaded).toBe(0);
    const [funnel, latency] = report.text.split('\n\n');
    expect(funnel).toMatch(/^funnel: Orders placed/);
    expect(funnel).toMatch(/^placed\s+-\s+2$/m);
    expect(funnel).toMatch(/^confirmed\s+-\s+1$/m);
    expect(funnel).toMatch(/^cancelled\s+out_of_stock\s+1$/m);
    expect(funnel).toMatch(/^pending\s+-\s+0$/m);
    expect(latency).toMatch(/^latency: OrderPlaced to final state/);
    expect(latency).toMatch(/^outcome\s+orders\s+p50 \(ms\)\s+p95 \(ms\)\s+max \(ms\)$/m);
    expect(latency).toMatch(/^all\s+2\s+300\s+1200\s+1200$/m);
    expect(latency).toMatch(/^confirmed\s+1\s+1200\s+1200\s+1200$/m);
  });

  it('waits through a warehouse another process holds (the loader at work), then reports', async () => {
    const path = join(dir, 'busy.duckdb');
    const busy = createDuckDbWarehouse({ path, lockTimeoutMs: 200 });
    const loaded = order(100, 'confirmed');
    await busy.load([loaded.placed, loaded.final]);
    await busy.close();
    // Another process holds the file for writing for 1.5 s, far past the 200 ms an open
    // waits: a look at the warehouse meanwhile fails as unavailable, which is not the end.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('@duckdb/node-api').DuckDBInstance.create(process.argv[1]).then((db) => {
           process.stdout.write('locked\\n');
           setTimeout(() => { db.closeSync(); process.exit(0); }, 1500);
         });`,
        path,
      ],
      { cwd: join(__dirname, '..', '..', 'analytics'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (chunk) => String(chunk).includes('locked') && resolve());
      holder.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    try {
      const report = await analyticsReport({
        warehouse: busy,
        orderIds: [loaded.orderId],
        waitMs: 10_000,
        pollIntervalMs: 100,
      });
      expect(report.notLoaded).toBe(0);
      expect(report.text).toMatch(/^confirmed\s+-\s+1$/m);
    } finally {
      await exited;
      await busy.close();
    }
  });

  it('gives up waiting after waitMs and says how many orders are missing', async () => {
    const loaded = order(100, 'confirmed');
    await warehouse.load([loaded.placed, loaded.final]);
    const started = Date.now();
    const report = await analyticsReport({
      warehouse,
      orderIds: [loaded.orderId, randomUUID()],
      waitMs: 500,
      pollIntervalMs: 100,
    });
    expect(report.notLoaded).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(report.text).toMatch(/^placed\s+-\s+3$/m);
  });
});
