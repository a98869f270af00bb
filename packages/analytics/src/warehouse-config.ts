import { resolve } from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { z } from 'zod';
import { createBigQueryWarehouse } from './bigquery-warehouse';
import { createDuckDbWarehouse } from './duckdb-warehouse';
import type { AuditableWarehouse } from './warehouse';

/** `<repo root>/.local/warehouse.duckdb` (gitignored), from src/ or dist/ alike. */
export const defaultDuckDbPath = resolve(__dirname, '..', '..', '..', '.local', 'warehouse.duckdb');

const bigQueryName = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, 'letters, digits and underscores');

/** The settings that choose and address the warehouse; functions extend their schema with it. */
export const warehouseConfigSchema = z.object({
  /** `duckdb` (one local file, the default) or `bigquery` (production). */
  WAREHOUSE: z.enum(['duckdb', 'bigquery']).default('duckdb'),
  DUCKDB_PATH: z.string().min(1).default(defaultDuckDbPath),
  /** How long a DuckDB operation waits for another process to release the file. */
  DUCKDB_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  BIGQUERY_DATASET: bigQueryName.default('orders'),
  BIGQUERY_TABLE: bigQueryName.default('events'),
  /** The dataset's location (`EU`, `us-central1`); the project's default when unset. */
  BIGQUERY_LOCATION: z.string().min(1).optional(),
});

export type WarehouseConfig = z.output<typeof warehouseConfigSchema> & {
  GOOGLE_CLOUD_PROJECT: string;
};

/** The warehouse the config names, with the production BigQuery client when it is BigQuery. */
export function openWarehouse(config: WarehouseConfig): AuditableWarehouse {
  if (config.WAREHOUSE === 'duckdb') {
    return createDuckDbWarehouse({
      path: config.DUCKDB_PATH,
      lockTimeoutMs: config.DUCKDB_LOCK_TIMEOUT_MS,
    });
  }
  const projectId = config.GOOGLE_CLOUD_PROJECT;
  return createBigQueryWarehouse({
    client: new BigQuery({ projectId, location: config.BIGQUERY_LOCATION }),
    projectId,
    dataset: config.BIGQUERY_DATASET,
    table: config.BIGQUERY_TABLE,
    location: config.BIGQUERY_LOCATION,
  });
}

/** Where the config points, for people: `duckdb /path/file` or `bigquery project.dataset.table`. */
export function describeWarehouse(config: WarehouseConfig): string {
  return config.WAREHOUSE === 'duckdb'
    ? `duckdb ${resolve(config.DUCKDB_PATH)}`
    : `bigquery ${config.GOOGLE_CLOUD_PROJECT}.${config.BIGQUERY_DATASET}.${config.BIGQUERY_TABLE}`;
}
