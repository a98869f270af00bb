import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { baseConfigSchema, ConfigError, parseConfig } from '@orders/runtime';
import { defaultDuckDbPath, describeWarehouse, warehouseConfigSchema } from './warehouse-config';

const schema = warehouseConfigSchema.extend({
  GOOGLE_CLOUD_PROJECT: baseConfigSchema.shape.GOOGLE_CLOUD_PROJECT,
});

describe('warehouseConfigSchema', () => {
  it('defaults to DuckDB in <repo root>/.local/warehouse.duckdb', () => {
    const config = parseConfig(warehouseConfigSchema, {});
    expect(config).toEqual({
      WAREHOUSE: 'duckdb',
      DUCKDB_PATH: defaultDuckDbPath,
      DUCKDB_LOCK_TIMEOUT_MS: 5000,
      BIGQUERY_DATASET: 'orders',
      BIGQUERY_TABLE: 'events',
    });
    expect(defaultDuckDbPath).toBe(join(__dirname, '..', '..', '..', '.local', 'warehouse.duckdb'));
  });

  it('reads the BigQuery settings', () => {
    const config = parseConfig(schema, {
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: 'orders-prod',
      BIGQUERY_DATASET: 'analytics',
      BIGQUERY_TABLE: 'order_events',
      BIGQUERY_LOCATION: 'EU',
    });
    expect(config).toMatchObject({ WAREHOUSE: 'bigquery', BIGQUERY_LOCATION: 'EU' });
    expect(describeWarehouse(config)).toBe('bigquery orders-prod.analytics.order_events');
  });

  it('names every bad setting', () => {
    expect(() =>
      parseConfig(warehouseConfigSchema, {
        WAREHOUSE: 'sqlite',
        BIGQUERY_TABLE: 'events; DROP TABLE x',
        DUCKDB_LOCK_TIMEOUT_MS: '-1',
      }),
    ).toThrow(
      new ConfigError(
        'invalid configuration: WAREHOUSE: Invalid option: expected one of "duckdb"|"bigquery"; DUCKDB_LOCK_TIMEOUT_MS: Too small: expected number to be >=0; BIGQUERY_TABLE: letters, digits and underscores',
      ),
    );
  });
});
