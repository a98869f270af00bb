import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { migrateSandboxLedger, sandboxLedgerExists } from './sandbox-ledger';
import { createSandboxProvider } from './sandbox-provider';

let database: TestDatabase;
// Roles are the server's, shared by every test database: one of this file's own.
const role = `t_payment_handler_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  database = await testDatabase('sandbox-ledger');
});
afterAll(async () => {
  if (database) {
    await sql`drop owned by ${sql.id(role)}`.execute(database.db).catch(() => {});
    await sql`drop role if exists ${sql.id(role)}`.execute(database.db);
  }
  await database?.close();
});

describe('the sandbox ledger', () => {
  it('is not in the migrated schema: the sandbox creates it before its first operation', async () => {
    expect(await sandboxLedgerExists(database.db)).toBe(false);
    const provider = createSandboxProvider(database.db, { latencyMs: 0 });
    const orderId = randomUUID();
    const outcome = await provider.charge({
      idempotencyKey: `pay_${orderId}:charge`,
      paymentId: `pay_${orderId}`,
      orderId,
      customerId: 'cust-1',
      amountMinor: 100,
      currency: 'EUR',
    });
    expect(outcome).toMatchObject({ status: 'succeeded' });
    expect(await sandboxLedgerExists(database.db)).toBe(true);
  });

  it('is created once by concurrent setups, and a setup where it exists changes nothing', async () => {
    const other = await testDatabase('sandbox-ledger-concurrent');
    try {
      await Promise.all(Array.from({ length: 4 }, () => migrateSandboxLedger(other.db)));
      await migrateSandboxLedger(other.db);
      const { rows } = await sql<{ name: string }>`
        select indexname as name from pg_indexes
        where tablename = 'sandbox_provider_operations' order by 1`.execute(other.db);
      expect(rows.map((row) => row.name)).toEqual([
        'sandbox_provider_operations_one_refund',
        'sandbox_provider_operations_order',
        'sandbox_provider_operations_pkey',
      ]);
    } finally {
      await other.drop();
    }
  });

  it("grants it to payment-handler's role where that role exists", async () => {
    const withRole = await testDatabase('sandbox-ledger-role');
    const withoutRole = await testDatabase('sandbox-ledger-no-role');
    try {
      await migrateSandboxLedger(withoutRole.db, { grantTo: role });
      await sql`create role ${sql.id(role)}`.execute(withRole.db);
      await migrateSandboxLedger(withRole.db, { grantTo: role });
      const privileges = async (db: TestDatabase['db']) => {
        const { rows } = await sql<{ privilege: string }>`
          select privilege_type as privilege from information_schema.role_table_grants
          where table_name = 'sandbox_provider_operations' and grantee = ${role}
          order by 1`.execute(db);
        return rows.map((row) => row.privilege);
      };
      expect(await privileges(withRole.db)).toEqual(['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
      expect(await privileges(withoutRole.db)).toEqual([]);
    } finally {
      await sql`drop owned by ${sql.id(role)}`.execute(withRole.db).catch(() => {});
      await withRole.drop();
      await withoutRole.drop();
    }
  });
});
