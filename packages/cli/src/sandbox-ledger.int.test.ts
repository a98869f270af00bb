import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';

/** `pnpm sandbox-ledger` (dist/sandbox-ledger.js), as a test project's owner runs it. */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'sandbox-ledger.js');
let database: TestDatabase;

beforeAll(async () => {
  database = await testDatabase('sandbox-ledger');
});

afterAll(async () => {
  await database?.close();
});

const privileges = async () => {
  const { rows } = await sql<{ privilege_type: string }>`
    select privilege_type from information_schema.role_table_grants
    where table_name = 'sandbox_provider_operations' and grantee = 'payment_handler'
    order by 1`.execute(database.db);
  return rows.map((row) => row.privilege_type);
};

describe('pnpm sandbox-ledger', () => {
  it("creates the sandbox's ledger for payment-handler's role, and again changes nothing", async () => {
    // The per-function roles exist (0012): the ledger is granted to payment_handler.
    for (let i = 0; i < 2; i++) {
      const { stdout } = await run(process.execPath, [cli], {
        env: { DATABASE_URL: database.url },
      });
      expect(stdout).toBe('the sandbox ledger is ready\n');
    }
    expect(await privileges()).toEqual(['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
  });

  it('needs DATABASE_URL', async () => {
    await expect(run(process.execPath, [cli], { env: {} })).rejects.toMatchObject({ code: 2 });
  });
});
