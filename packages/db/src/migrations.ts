import type { Kysely } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { up as up0001 } from './migrations/0001-catalog-and-orders';
import { up as up0002 } from './migrations/0002-exactly-once';
import { up as up0003 } from './migrations/0003-order-saga';
import { up as up0004 } from './migrations/0004-payments';
import { up as up0005 } from './migrations/0005-provider-voids';
import { up as up0006 } from './migrations/0006-relay-and-redrives';
import { up as up0007 } from './migrations/0007-saga-history-effects';
import { up as up0008 } from './migrations/0008-saga-definition-version';
import { up as up0009 } from './migrations/0009-sandbox-ledger-apart';
import { up as up0010 } from './migrations/0010-outbox-producer';
import { up as up0011 } from './migrations/0011-open-orders-by-customer';
import { up as up0012 } from './migrations/0012-function-roles';
import { up as up0013 } from './migrations/0013-outbox-traceparent';
import { up as up0014 } from './migrations/0014-retention';
import { up as up0015 } from './migrations/0015-saga-traceparent';
import { up as up0016 } from './migrations/0016-retention-indexes-and-requeue';
import type { Database } from './schema';

/**
 * Forward-only migrations, one file each under `migrations/`, applied in name order. kysely
 * records each in `kysely_migration` under a lock, so running them again (or concurrently) is
 * a no-op. Never edit one that has shipped: add the next.
 */
export const migrations: Record<string, Migration> = {
  '0001-catalog-and-orders': { up: up0001 },
  '0002-exactly-once': { up: up0002 },
  '0003-order-saga': { up: up0003 },
  '0004-payments': { up: up0004 },
  '0005-provider-voids': { up: up0005 },
  '0006-relay-and-redrives': { up: up0006 },
  '0007-saga-history-effects': { up: up0007 },
  '0008-saga-definition-version': { up: up0008 },
  '0009-sandbox-ledger-apart': { up: up0009 },
  '0010-outbox-producer': { up: up0010 },
  '0011-open-orders-by-customer': { up: up0011 },
  '0012-function-roles': { up: up0012 },
  '0013-outbox-traceparent': { up: up0013 },
  '0014-retention': { up: up0014 },
  '0015-saga-traceparent': { up: up0015 },
  '0016-retention-indexes-and-requeue': { up: up0016 },
};

/** Applies every pending migration; returns the names applied by this call. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) throw error;
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
