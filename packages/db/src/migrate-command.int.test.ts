import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Kysely, sql } from 'kysely';
import { createDb } from './create-db';
import { functionDatabaseUser } from './function-roles';
import { runMigrate } from './migrate-command';
import type { Database } from './schema';

// A database of its own on the server the int project's global setup started.
const name = `t_migrate_${randomBytes(4).toString('hex')}`;
const project = `migrate-${randomBytes(4).toString('hex')}`;
const placeOrderUser = functionDatabaseUser('place-order', project);
const password = randomBytes(16).toString('hex');
let admin: Kysely<Database>;
let url: string;

beforeAll(async () => {
  admin = createDb(process.env.DATABASE_URL!, { maxConnections: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin);
  const at = new URL(process.env.DATABASE_URL!);
  at.pathname = `/${name}`;
  url = at.toString();
});

afterAll(async () => {
  await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin);
  await sql`drop role if exists ${sql.id(placeOrderUser)}`.execute(admin);
  await admin?.destroy();
});

async function migrate(argv: string[], env: NodeJS.ProcessEnv = { DATABASE_URL: url }) {
  const lines: string[] = [];
  const code = await runMigrate(argv, env, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

describe('pnpm migrate', () => {
  it('migrates, then makes the IAM users that exist members of their function roles', async () => {
    const first = await migrate([]);
    expect(first).toMatchObject({ code: 0, output: expect.stringMatching(/^applied 0001-/) });

    // Terraform has created place-order's user only, so far.
    await sql`create role ${sql.id(placeOrderUser)} login password ${sql.lit(password)}`.execute(
      admin,
    );
    const granted = await migrate(['--project', project]);
    expect(granted.code).toBe(0);
    expect(granted.output.split('\n')).toEqual([
      'no pending migration',
      `place-order: ${placeOrderUser} granted role place_order`,
      `process-order: no user fn-process-order@${project}.iam yet (terraform apply creates it); run this again then`,
      `payment-handler: no user fn-payment-handler@${project}.iam yet (terraform apply creates it); run this again then`,
      `housekeeping: no user fn-housekeeping@${project}.iam yet (terraform apply creates it); run this again then`,
    ]);
    const again = await migrate(['--project', project]);
    expect(again.output).toContain(`place-order: ${placeOrderUser} already holds role place_order`);

    // The IAM user now works as place-order does, and no further.
    const as = new URL(url);
    as.username = placeOrderUser;
    as.password = password;
    const user = createDb(as.toString(), { maxConnections: 1 });
    try {
      const products = await user.selectFrom('products').select('sku').execute();
      expect(products).toEqual([]);
      await expect(user.selectFrom('payments').selectAll().execute()).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await user.destroy();
    }
  });

  it('refuses what it cannot act on', async () => {
    expect(await migrate(['--project', 'Not A Project'])).toMatchObject({
      code: 2,
      output: expect.stringContaining('is not a Google Cloud project id'),
    });
    expect(await migrate([], {})).toMatchObject({
      code: 2,
      output: expect.stringContaining('DATABASE_URL is not set'),
    });
    expect(await migrate(['--projet', project])).toMatchObject({
      code: 2,
      output: expect.stringContaining("Unknown option '--projet'"),
    });
  });
});
