import type { ColumnType, Kysely } from 'kysely';
import { sql } from 'kysely';

/**
 * The sandbox provider's ledger: what a real provider keeps on its side. It is the sandbox's
 * own table, not the schema's (migration 0009 took it out of the main line): it exists only
 * where the sandbox runs, created by `migrateSandboxLedger`.
 */
export type SandboxLedgerTables = {
  sandbox_provider_operations: SandboxProviderOperationsTable;
};

interface SandboxProviderOperationsTable {
  /** A void is recorded under the key of the charge it voids. */
  idempotency_key: string;
  kind: 'charge' | 'refund' | 'void';
  payment_id: string;
  order_id: string;
  /** Null for a void, and only for a void. */
  customer_id: string | null;
  amount_minor: number;
  currency: string;
  outcome: 'succeeded' | 'declined';
  decline_code: string | null;
  provider_ref: string;
  /** A refund's charge, by that charge's idempotency key; null for a charge. */
  charge_key: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Whether the sandbox's ledger exists in the database of `db` (the sandbox has run there). */
export async function sandboxLedgerExists<DB>(db: Kysely<DB>): Promise<boolean> {
  // A scan of the catalog, not to_regclass: a lookup through the catalog caches may miss a
  // table that a concurrent setup committed while this one waited for the lock.
  const { rows } = await sql<{ found: boolean }>`
    select exists (
      select 1 from pg_catalog.pg_tables
      where schemaname = current_schema() and tablename = 'sandbox_provider_operations'
    ) as found`.execute(db);
  return rows[0]!.found;
}

/** The role of payment-handler's connections, where per-function roles exist. */
const paymentHandlerRole = 'payment_handler';

/** Namespace of the ledger setup's advisory lock: the ASCII of "sbxl". */
const setupLock = 0x7362786c;

/**
 * Creates the sandbox's ledger when it does not exist yet, in one transaction under an
 * advisory lock (so concurrent instances starting at once create it once), and grants it to
 * role `payment_handler` when that role exists and this connection created the table (a
 * database with per-function roles: the sandbox's pool connects as payment-handler).
 * Idempotent: where the table exists, it only reads the catalog, so a role that may not
 * create tables (a test project whose owner ran it first) passes through it.
 *
 * Called wherever the sandbox runs: the sandbox provider runs it before its first
 * operation, and tests that read or write the ledger without a provider run it themselves.
 */
export async function migrateSandboxLedger<DB>(
  db: Kysely<DB>,
  /** The role to grant it to; tests name a role of their own. */
  { grantTo = paymentHandlerRole }: { grantTo?: string } = {},
): Promise<void> {
  if (await sandboxLedgerExists(db)) return;
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${setupLock})`.execute(trx);
    if (await sandboxLedgerExists(trx)) return;
    await sql`
      create table sandbox_provider_operations (
        idempotency_key text primary key,
        kind text not null check (kind in ('charge', 'refund', 'void')),
        payment_id text not null,
        order_id uuid not null,
        -- A void names no customer (the order that gives up does not know it).
        customer_id text check ((kind = 'void') = (customer_id is null)),
        amount_minor bigint not null check (amount_minor >= 0),
        currency char(3) not null,
        outcome text not null check (outcome in ('succeeded', 'declined')),
        decline_code text,
        provider_ref text not null,
        -- A refund names the charge it pays back, by that charge's idempotency key.
        charge_key text,
        created_at timestamptz not null default now(),
        check ((kind = 'refund') = (charge_key is not null))
      )`.execute(trx);
    await sql`
      create index sandbox_provider_operations_order
        on sandbox_provider_operations (order_id)`.execute(trx);
    // A charge is paid back once: a second refund under another key cannot land.
    await sql`
      create unique index sandbox_provider_operations_one_refund
        on sandbox_provider_operations (charge_key) where kind = 'refund'`.execute(trx);
    const { rows } = await sql<{ found: boolean }>`
      select exists (select 1 from pg_roles where rolname = ${grantTo}) as found`.execute(trx);
    if (rows[0]!.found) {
      await sql`
        grant select, insert, update, delete on sandbox_provider_operations
          to ${sql.id(grantTo)}`.execute(trx);
    }
  });
}
