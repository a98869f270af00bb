import { createDb } from '@orders/db';
import { migrateSandboxLedger } from '@orders/payments';
import { runCommand } from './command-line';

const usage = `usage: DATABASE_URL=postgres://... pnpm sandbox-ledger

Creates the sandbox payment provider's ledger (sandbox_provider_operations) in the database at
DATABASE_URL, as a user that owns the tables (on Cloud SQL: a built-in user, e.g. postgres),
and grants it to role payment_handler. Only for a test project that pays through the sandbox
(pnpm run deploy --test-project): there payment-handler's role may not create a table.
Locally the sandbox creates it itself. Safe to run again.`;

/** `pnpm sandbox-ledger`. Exit codes: 0 done, 1 failed, 2 usage. */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (argv.length > 0 || !env.DATABASE_URL) {
    process.stderr.write(
      `sandbox-ledger: ${argv.length > 0 ? `unexpected ${argv.join(' ')}` : 'DATABASE_URL is not set'}\n\n${usage}\n`,
    );
    return 2;
  }
  const db = createDb(env.DATABASE_URL, { maxConnections: 1 });
  try {
    await migrateSandboxLedger(db);
    process.stdout.write('the sandbox ledger is ready\n');
    return 0;
  } finally {
    await db.destroy();
  }
}

runCommand('sandbox-ledger', main);
