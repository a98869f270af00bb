import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createDatabase, dropDatabase, queryOnce, startPostgres } from './postgres-server';
import { isProcessAlive } from './test-harness';

/** Connects as `config` says and answers `select 1`, or throws what the server said. */
async function connectAs(config: pg.ClientConfig): Promise<void> {
  const client = new pg.Client({ connectionTimeoutMillis: 2_000, ...config });
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** Every file and directory under `dir` with a permission for its group or others. */
async function openToOthers(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const open: string[] = [];
  for (const path of [dir, ...entries.map((entry) => join(dir, entry))]) {
    const { mode } = await stat(path);
    if ((mode & 0o077) !== 0) open.push(`${path} ${(mode & 0o777).toString(8)}`);
  }
  return open;
}

describe('startPostgres', () => {
  it('starts a throwaway server that answers queries and leaves nothing behind on stop', async () => {
    // No DATABASE_URL in this env: the global setup's server must not be reused here.
    const server = await startPostgres({ durable: false, env: { PATH: process.env.PATH } });
    try {
      expect(server.url).toMatch(
        /^postgres:\/\/postgres:[A-Za-z0-9_-]{32}@127\.0\.0\.1:\d+\/postgres$/,
      );
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

  it("trusts no one: every connection needs the password, and the data directory is its owner's", async () => {
    const server = await startPostgres({ durable: false, env: { PATH: process.env.PATH } });
    try {
      const { port, password } = new URL(server.url);
      const tcp = { host: '127.0.0.1', port: Number(port), user: 'postgres', database: 'postgres' };
      // The socket is in the data directory (-k).
      const socket = { ...tcp, host: server.dataDir! };
      for (const where of [tcp, socket]) {
        await expect(connectAs({ ...where, password })).resolves.toBeUndefined();
        await expect(connectAs({ ...where, password: `${password}x` })).rejects.toMatchObject({
          code: '28P01',
          message: 'password authentication failed for user "postgres"',
        });
        // pg refuses to go on when the server asks for a password and it has none.
        await expect(connectAs(where)).rejects.toThrow(/password/);
      }
      const { rows } = await queryOnce<{ method: string }>(
        server.url,
        'select distinct auth_method as method from pg_hba_file_rules where error is null',
      );
      expect(rows).toEqual([{ method: 'scram-sha-256' }]);
      expect(await openToOthers(server.dataDir!)).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 30_000);

  it('starts with a new password each time', async () => {
    const env = { PATH: process.env.PATH };
    const [one, two] = await Promise.all([
      startPostgres({ durable: false, env }),
      startPostgres({ durable: false, env }),
    ]);
    try {
      expect(new URL(one.url).password).not.toBe(new URL(two.url).password);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
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
