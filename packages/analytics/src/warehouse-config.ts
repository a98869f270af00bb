import { resolve } from 'node:path';
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
  /** The root of BigQuery's REST API; Google's when unset (a local double's in the bench). */
  BIGQUERY_API_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
});

export type WarehouseConfig = z.output<typeof warehouseConfigSchema> & {
  GOOGLE_CLOUD_PROJECT: string;
};

/**
 * The warehouse the config names. BigQuery's inserts go over its REST API with Application
 * Default Credentials; its client library is loaded only for queries and creating the table.
 */
export function openWarehouse(config: WarehouseConfig): AuditableWarehouse {
  if (config.WAREHOUSE === 'duckdb') {
    return createDuckDbWarehouse({
      path: config.DUCKDB_PATH,
      lockTimeoutMs: config.DUCKDB_LOCK_TIMEOUT_MS,
    });
  }
  const projectId = config.GOOGLE_CLOUD_PROJECT;
  const location = config.BIGQUERY_LOCATION;
  const apiEndpoint = config.BIGQUERY_API_ENDPOINT;
  return createBigQueryWarehouse({
    client: () => {
      const { BigQuery } =
        require('@google-cloud/bigquery') as typeof import('@google-cloud/bigquery');
      return new BigQuery({ projectId, location, ...(apiEndpoint ? { apiEndpoint } : {}) });
    },
    projectId,
    dataset: config.BIGQUERY_DATASET,
    table: config.BIGQUERY_TABLE,
    location,
    apiEndpoint,
  });
}

/** Where the config points, for people: `duckdb /path/file` or `bigquery project.dataset.table`. */
export function describeWarehouse(config: WarehouseConfig): string {
  return config.WAREHOUSE === 'duckdb'
    ? `duckdb ${resolve(config.DUCKDB_PATH)}`
    : `bigquery ${config.GOOGLE_CLOUD_PROJECT}.${config.BIGQUERY_DATASET}.${config.BIGQUERY_TABLE}`;
}
