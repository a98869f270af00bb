import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { createDb } from './create-db';
import { migrateToLatest, migrations } from './migrations';
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
      '0010-outbox-producer',
      '0011-open-orders-by-customer',
      '0012-function-roles',
      '0013-outbox-traceparent',
      '0014-retention',
      '0015-saga-traceparent',
      '0016-retention-indexes-and-requeue',
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

  it('0010 gives each outbox row written before it the producer its envelope names as source', async () => {
    // A database as it was before 0010, with rows in its outbox.
    const before0010 = `${name}_before_0010`;
    await sql`create database ${sql.id(before0010)}`.execute(admin);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${before0010}`;
    const older = createDb(url.toString(), { maxConnections: 1 });
    try {
      const names = Object.keys(migrations);
      const previous = names[names.indexOf('0010-outbox-producer') - 1]!;
      const migrator = new Migrator({
        db: older,
        provider: { getMigrations: async () => migrations },
      });
      expect((await migrator.migrateTo(previous)).error).toBeUndefined();
      const envelope = (source?: string) => ({
        type: 'PaymentSucceeded',
        ...(source ? { source } : {}),
      });
      const ids = [randomUUID(), randomUUID()];
      await sql`insert into outbox (id, event, sent_at) values
        (${ids[0]}::uuid, ${JSON.stringify(envelope('payment-handler'))}::jsonb, now()),
        (${ids[1]}::uuid, ${JSON.stringify(envelope())}::jsonb, null)`.execute(older);

      expect(await migrateToLatest(older)).toContain('0010-outbox-producer');
      const rows = await older
        .selectFrom('outbox')
        .select(['id', 'producer'])
        .where('id', 'in', ids)
        .execute();
      expect(Object.fromEntries(rows.map((row) => [row.id, row.producer]))).toEqual({
        [ids[0]!]: 'payment-handler',
        // None named: the relay sets it aside.
        [ids[1]!]: null,
      });
    } finally {
      await older.destroy();
      await sql`drop database if exists ${sql.id(before0010)} with (force)`.execute(admin);
    }
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

describe('0012-function-roles', () => {
  // As on Cloud SQL: the migrator is no superuser but owns the database and creates roles.
  const migrator = `t_migrator_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  const older = `t_migrations_0008_${randomBytes(4).toString('hex')}`;
  let asMigrator: Kysely<Database>;

  beforeAll(async () => {
    await sql`create role ${sql.id(migrator)} login createrole password ${sql.lit(password)}`.execute(
      admin,
    );
    await sql`create database ${sql.id(older)} owner ${sql.id(migrator)}`.execute(admin);
    const url = new URL(process.env.DATABASE_URL!);
    url.username = migrator;
    url.password = password;
    url.pathname = `/${older}`;
    asMigrator = createDb(url.toString(), { maxConnections: 1 });
  });

  afterAll(async () => {
    await asMigrator?.destroy();
    await sql`drop database if exists ${sql.id(older)} with (force)`.execute(admin);
    await sql`drop role if exists ${sql.id(migrator)}`.execute(admin);
  });

  it('applies to a database migrated to 0008 by a migrator that is no superuser', async () => {
    const earlier = new Migrator({
      db: asMigrator,
      provider: { getMigrations: async () => migrations },
    });
    const before = await earlier.migrateTo('0008-saga-definition-version');
    expect(before.error).toBeUndefined();
    await seedCatalog(asMigrator);

    // Every migration after 0008, the roles among them.
    const after0008 = Object.keys(migrations).filter(
      (name) => name > '0008-saga-definition-version',
    );
    expect(after0008).toContain('0012-function-roles');
    expect(await migrateToLatest(asMigrator)).toEqual(after0008);

    const roles = ['place_order', 'process_order', 'payment_handler', 'housekeeping'];
    const { rows: found } = await sql<{ rolname: string; rolcanlogin: boolean }>`
      select rolname, rolcanlogin from pg_roles where rolname = any(${roles}) order by rolname`.execute(
      asMigrator,
    );
    expect(found).toEqual([...roles].sort().map((rolname) => ({ rolname, rolcanlogin: false })));
    // The migrator owns every table; the roles own nothing and hold only what 0012 grants.
    const { rows: owners } = await sql<{ owner: string }>`
      select distinct pg_get_userbyid(relowner) as owner from pg_class
      where relnamespace = 'public'::regnamespace`.execute(asMigrator);
    expect(owners).toEqual([{ owner: migrator }]);
    const { rows: privileges } = await sql<{ role: string; table: string; privilege: string }>`
      select grantee as role, table_name as table, privilege_type as privilege
      from information_schema.table_privileges
      where grantee = any(${roles}) and table_name like 'kysely%'`.execute(asMigrator);
    expect(privileges).toEqual([]);
    const { rows: sequences } = await sql`
      select 1 from pg_class where relkind = 'S' and relnamespace = 'public'::regnamespace`.execute(
      asMigrator,
    );
    expect(sequences).toEqual([]);
  });
});
