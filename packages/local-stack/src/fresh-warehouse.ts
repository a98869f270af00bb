import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './local-stack';

/** analytics' default DUCKDB_PATH (defaultDuckDbPath: local-stack cannot import analytics). */
const checkoutWarehouse = join(repoRoot, '.local', 'warehouse.duckdb');

/** The settings that decide which warehouse a stack started on this machine loads into. */
export interface LocalWarehouseSettings {
  DATABASE_URL?: string | undefined;
  WAREHOUSE?: string | undefined;
  DUCKDB_PATH?: string | undefined;
}

/**
 * The warehouse a stack started here (`pnpm dev`, or `pnpm demo`'s own) begins afresh, so
 * that the analytics describe its orders only: the DuckDB file analytics-loader writes
 * (DUCKDB_PATH, else the checkout's `.local/warehouse.duckdb`). None when the database is
 * your own (DATABASE_URL: the warehouse is kept with it) or the warehouse is BigQuery.
 */
export function throwawayWarehouse(env: LocalWarehouseSettings): string | undefined {
  if (env.DATABASE_URL || env.WAREHOUSE === 'bigquery') return undefined;
  return env.DUCKDB_PATH || checkoutWarehouse;
}

/** Removes the throwaway warehouse (and its write-ahead log); returns its path, if any. */
export async function freshLocalWarehouse(
  env: LocalWarehouseSettings,
): Promise<string | undefined> {
  const warehouse = throwawayWarehouse(env);
  if (warehouse) {
    await Promise.all([rm(warehouse, { force: true }), rm(`${warehouse}.wal`, { force: true })]);
  }
  return warehouse;
}
