import { describe, expect, it } from '@jest/globals';
import { warehouseConfigSchema } from '@orders/analytics';
import { throwawayWarehouse } from '@orders/local-stack';
import { parseConfig } from '@orders/runtime';

describe("the warehouse pnpm dev and pnpm demo's own stack start afresh", () => {
  it.each([{}, { DUCKDB_PATH: '/tmp/mine.duckdb' }, { WAREHOUSE: 'duckdb' }])(
    'is the file analytics-loader writes (%j)',
    (env) => {
      expect(throwawayWarehouse(env)).toBe(parseConfig(warehouseConfigSchema, env).DUCKDB_PATH);
    },
  );
});
