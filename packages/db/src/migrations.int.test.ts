import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Kysely, sql } from 'kysely';
import { createDb } from './create-db';
import { migrateToLatest } from './migrations';
import type { Database } from './schema';
import { seedCatalog, seedProducts } from './seed';

// A database of its own on the server the int project's global setup started.
const name = `t_migrations_${randomBytes(4).toString('hex')}`;
let admin: Kysely<Database>;
let db: Kysely<Database>;

beforeAll(async () => {
  admin = createDb(process.env.DATABASE_URL!, { maxConnections: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  db = createDb(url.toString());
});

afterAll(async () => {
  await db?.destroy();
  await admin?.destroy();
});

describe('migrateToLatest', () => {
  it('runs forward on an empty database, concurrently, and is idempotent', async () => {
    const [first, second] = await Promise.all([migrateToLatest(db), migrateToLatest(db)]);
    expect([...first, ...second].sort()).toEqual([
      '0001-catalog-and-orders',
      '0002-exactly-once',
      '0003-order-saga',
      '0004-payments',
      '0005-provider-voids',
      '0006-relay-and-redrives',
      '0007-saga-history-effects',
      '0008-saga-definition-version',
      '0009-sandbox-ledger-apart',
    ]);
    expect(await migrateToLatest(db)).toEqual([]);

    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public' order by 1`.execute(
      db,
    );
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining([
        'idempotency_keys',
        'order_items',
        'orders',
        'outbox',
        'processed_events',
        'products',
      ]),
    );
    // The sandbox provider's ledger is the sandbox's own (packages/payments), not the schema's.
    expect(rows.map((row) => row.table_name)).not.toContain('sandbox_provider_operations');
  });

  it('seeds the catalog once and never overwrites stock', async () => {
    await seedCatalog(db);
    await db.updateTable('products').set({ stock: 3 }).where('sku', '=', 'TEA-001').execute();
    await seedCatalog(db);
    const products = await db.selectFrom('products').selectAll().orderBy('sku').execute();
    expect(products).toHaveLength(seedProducts.length);
    expect(products.find((p) => p.sku === 'TEA-001')).toMatchObject({
      stock: 3,
      price_minor: 1299,
      currency: 'EUR',
    });
    expect(typeof products[0]!.price_minor).toBe('number');
  });

  it('refuses a negative price or stock', async () => {
    const insert = (price: number, stock: number) =>
      db
        .insertInto('products')
        .values({ sku: 'X-1', name: 'x', price_minor: price, currency: 'EUR', stock })
        .execute();
    await expect(insert(-1, 1)).rejects.toThrow(/check constraint/);
    await expect(insert(1, -1)).rejects.toThrow(/check constraint/);
  });
});
