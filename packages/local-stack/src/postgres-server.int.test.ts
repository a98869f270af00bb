import { existsSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { createDatabase, dropDatabase, queryOnce, startPostgres } from './postgres-server';
import { isProcessAlive } from './test-harness';

describe('startPostgres', () => {
  it('starts a throwaway server that answers queries and leaves nothing behind on stop', async () => {
    // No DATABASE_URL in this env: the global setup's server must not be reused here.
    const server = await startPostgres({ durable: false, env: { PATH: process.env.PATH } });
    try {
      expect(server.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      expect(server.pid).toEqual(expect.any(Number));
      expect(isProcessAlive(server.pid!)).toBe(true);
      expect(existsSync(server.dataDir!)).toBe(true);
      const result = await queryOnce(
        server.url,
        "select 41 + 1 as answer, current_setting('fsync') as fsync",
      );
      expect(result.rows).toEqual([{ answer: 42, fsync: 'off' }]);
    } finally {
      await server.stop();
    }
    expect(isProcessAlive(server.pid!)).toBe(false);
    expect(existsSync(server.dataDir!)).toBe(false);
    // Stopping again is a no-op, not an error.
    await server.stop();
  }, 30_000);

  it('uses DATABASE_URL when given and owns no process', async () => {
    const url = process.env.DATABASE_URL!;
    const server = await startPostgres({ env: { DATABASE_URL: url } });
    expect(server.url).toBe(url);
    expect(server.pid).toBeUndefined();
    expect(server.dataDir).toBeUndefined();
    expect(server.version).toMatch(/^\d+/);
    await server.stop();
    // Not ours: still answering after stop().
    const result = await queryOnce(url, 'select 1 as one');
    expect(result.rows).toEqual([{ one: 1 }]);
  }, 30_000);
});

describe('createDatabase', () => {
  it('creates an empty database and returns its URL', async () => {
    const serverUrl = process.env.DATABASE_URL!;
    const name = `create_db_test_${process.pid}`;
    const url = await createDatabase(serverUrl, name);
    try {
      expect(new URL(url).pathname).toBe(`/${name}`);
      const result = await queryOnce(url, 'select current_database() as name');
      expect(result.rows).toEqual([{ name }]);
    } finally {
      await dropDatabase(serverUrl, name);
    }
    const left = await queryOnce(serverUrl, `select 1 from pg_database where datname = '${name}'`);
    expect(left.rowCount).toBe(0);
  }, 30_000);
});
