import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { freshLocalWarehouse } from './fresh-warehouse';
import { devStackFile } from './local-stack';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fresh-warehouse-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const checkoutLocal = resolve(__dirname, '..', '..', '..', '.local');

describe('freshLocalWarehouse', () => {
  it('removes the file DUCKDB_PATH names and its write-ahead log, nothing beside them', async () => {
    const warehouse = join(dir, 'mine.duckdb');
    await Promise.all(
      [warehouse, `${warehouse}.wal`, join(dir, 'other.duckdb')].map((f) => writeFile(f, 'x')),
    );
    expect(await freshLocalWarehouse({ DUCKDB_PATH: warehouse })).toBe(warehouse);
    expect(existsSync(warehouse)).toBe(false);
    expect(existsSync(`${warehouse}.wal`)).toBe(false);
    expect(existsSync(join(dir, 'other.duckdb'))).toBe(true);
  });

  it('keeps the warehouse of your own database, and BigQuery', async () => {
    const warehouse = join(dir, 'kept.duckdb');
    await writeFile(warehouse, 'x');
    const own = { DATABASE_URL: 'postgres://me@db/orders', DUCKDB_PATH: warehouse };
    expect(await freshLocalWarehouse(own)).toBeUndefined();
    expect(await freshLocalWarehouse({ WAREHOUSE: 'bigquery', DUCKDB_PATH: warehouse })).toBe(
      undefined,
    );
    expect(existsSync(warehouse)).toBe(true);
  });
});

describe('devStackFile', () => {
  it("is DEV_STACK_FILE, else the checkout's .local/dev-stack.json", () => {
    expect(devStackFile({ DEV_STACK_FILE: join(dir, 'stack.json') })).toBe(join(dir, 'stack.json'));
    expect(devStackFile({})).toBe(join(checkoutLocal, 'dev-stack.json'));
    expect(devStackFile({ DEV_STACK_FILE: '' })).toBe(join(checkoutLocal, 'dev-stack.json'));
  });
});
