import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { testDatabase, testProjectId } from '@orders/local-stack';
import { runChaos } from './chaos-run';
import { faultKinds } from './fault-plan';

/**
 * The CI-sized soak: the whole stack under every kind of fault with a fixed seed, then every
 * invariant. `pnpm chaos --orders 1000` is the larger soak.
 */
describe('the chaos soak', () => {
  it('keeps every invariant through a few hundred orders with every fault kind on', async () => {
    const database = await testDatabase('chaos-soak');
    const dir = await mkdtemp(join(tmpdir(), 'chaos-soak-'));
    const logFile = join(dir, 'functions.log');
    const progress: string[] = [];
    try {
      const report = await runChaos({
        orders: 200,
        seed: 'ci-soak-1',
        concurrency: 8,
        rate: 5,
        env: { ...process.env, DATABASE_URL: database.url },
        projectId: testProjectId('chaos-soak'),
        log: (line) => progress.push(line),
        drainTimeoutMs: 120_000,
        logFile,
      });
      const explain = `${JSON.stringify(report, null, 2)}\n${progress.slice(-20).join('\n')}`;
      expect({ violations: report.violations, explain }).toEqual({ violations: [], explain });
      for (const kind of faultKinds) {
        expect({ kind, injected: report.faults[kind] > 0 }).toEqual({ kind, injected: true });
      }
      expect(report).toMatchObject({ orders: 200, pending: 0, needsAttention: 0 });
      expect(report.confirmed + report.cancelled).toBe(200);
      // The functions' log is kept, to look a violation's correlation id up.
      expect(await readFile(logFile, 'utf8')).toContain('"message":"order placed"');
    } finally {
      await database.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 1_200_000);
});
