import { describe, expect, it } from '@jest/globals';
import { queryOnce } from './postgres-server';
import { testDatabase } from './test-harness';

async function databaseExists(name: string): Promise<boolean> {
  const result = await queryOnce(
    process.env.DATABASE_URL!,
    'select 1 from pg_database where datname = $1',
    [name],
  );
  return result.rowCount === 1;
}

describe('testDatabase', () => {
  it('gives each caller its own migrated, seeded database, and drops it', async () => {
    const first = await testDatabase('Harness: first');
    const second = await testDatabase('Harness: first');
    try {
      expect(first.name).toMatch(/^t_harness_first_[0-9a-f]{8}$/);
      expect(second.name).not.toBe(first.name);
      const products = await first.db.selectFrom('products').select('sku').execute();
      expect(products.length).toBeGreaterThan(0);
      await first.db.deleteFrom('products').where('stock', '=', 0).execute();
      const untouched = await second.db.selectFrom('products').select('sku').execute();
      expect(untouched).toHaveLength(products.length);
    } finally {
      await first.drop();
      await second.drop();
    }
    expect(await databaseExists(first.name)).toBe(false);
    expect(await databaseExists(second.name)).toBe(false);
  }, 30_000);
});
