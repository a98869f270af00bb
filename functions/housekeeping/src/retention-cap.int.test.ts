import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import {
  queryOnce,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';

/**
 * A tick deletes at most RETENTION_MAX_ROWS rows a table, RETENTION_BATCH_SIZE a statement;
 * one that stops at its cap says so, and the next tick goes on.
 */
const projectId = testProjectId('housekeeping-cap');
let database: TestDatabase;
let served: ServedFunction;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await testDatabase('housekeeping_cap');
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'info',
    RETENTION_MAX_ROWS: '2',
    RETENTION_BATCH_SIZE: '1',
  });
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    return true;
  });
  require('./index');
  served = await serveFunction('runHousekeeping', { projectId, topic: 'housekeeping' });
});

afterEach(() => {
  lines.length = 0;
});

afterAll(async () => {
  jest.restoreAllMocks();
  await served?.close();
  await database?.close();
});

function tick() {
  return served.deliver({ data: Buffer.from('{"job":"housekeeping"}') });
}

const claimsLeft = async () =>
  (await queryOnce<{ n: number }>(database.url, 'select count(*)::int as n from processed_events'))
    .rows[0]!.n;

it('stops at RETENTION_MAX_ROWS with a warning, and the next tick deletes the rest', async () => {
  for (let i = 0; i < 3; i++) {
    await queryOnce(
      database.url,
      `insert into processed_events (consumer, event_id, processed_at)
       values ('process-order', $1, now() - interval '31 days')`,
      [randomUUID()],
    );
  }

  expect((await tick()).status).toBe(204);
  expect(await claimsLeft()).toBe(1);
  expect(lines).toContainEqual(
    expect.objectContaining({
      severity: 'WARNING',
      message: 'retention stopped at RETENTION_MAX_ROWS: more rows may be due',
      table: 'processed_events',
      deleted: 2,
    }),
  );
  expect(lines).toContainEqual(
    expect.objectContaining({ message: 'housekeeping done', claimsPurged: 2 }),
  );
  lines.length = 0;

  expect((await tick()).status).toBe(204);
  expect(await claimsLeft()).toBe(0);
  expect(lines.filter((line) => line.table === 'processed_events')).toEqual([]);
});
