import { randomBytes } from 'node:crypto';
import { createDb, migrateToLatest, seedCatalog } from '@orders/db';
import type { DomainEvent, Envelope } from '@orders/events';
import { createDatabase, dropDatabase } from './postgres-server';

export interface TestDatabase {
  name: string;
  url: string;
  db: ReturnType<typeof createDb>;
  /** Closes `db`'s pool; the database stays for inspection. */
  close(): Promise<void>;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh database, migrated and seeded, on the server of env DATABASE_URL (the int jest
 * project's global setup provides one), so test files never see each other's rows.
 */
export async function testDatabase(
  label: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TestDatabase> {
  const serverUrl = env.DATABASE_URL;
  if (!serverUrl) {
    throw new Error('testDatabase needs DATABASE_URL: run it in the int jest project');
  }
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40);
  const name = `t_${slug}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(serverUrl, name);
  const db = createDb(url);
  try {
    await migrateToLatest(db);
    await seedCatalog(db);
  } catch (error) {
    await db.destroy();
    await dropDatabase(serverUrl, name);
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= db.destroy();
    return closing;
  };
  return {
    name,
    url,
    db,
    close,
    drop: async () => {
      await close();
      await dropDatabase(serverUrl, name);
    },
  };
}

/**
 * A project id of its own for one test file, so its topics and subscriptions on the shared
 * emulator are its own. Valid as a real one: 6-30 lowercase letters, digits and hyphens,
 * starting with a letter.
 */
export function testProjectId(label: string): string {
  const suffix = randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0').slice(-6);
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 22)
    .replace(/-+$/, '');
  return `${slug || 'test'}-${suffix}`;
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes the order row and its items (if it has any) of an `OrderPlaced` as intake does, for
 * a test that starts a saga from the event.
 */
export async function recordPlacedOrder(
  db: TestDatabase['db'],
  placed: DomainEvent<'OrderPlaced'>,
): Promise<void> {
  const { orderId, customerId, currency, items, totalMinor } = placed.data;
  await db
    .insertInto('orders')
    .values({
      id: orderId,
      customer_id: customerId,
      currency,
      total_minor: totalMinor,
      status: 'PLACED',
      correlation_id: placed.correlationId,
    })
    .execute();
  if (!items?.length) return;
  await db
    .insertInto('order_items')
    .values(
      items.map((item) => ({
        order_id: orderId,
        sku: item.sku,
        quantity: item.quantity,
        unit_price_minor: item.unitPriceMinor,
      })),
    )
    .execute();
}

/**
 * Writes outbox rows for `events` (unsent), as a store writes them with its effects, for a
 * test that plants rows for the relay or the checker. `db` may be a transaction.
 */
export async function insertOutboxRows(
  db: TestDatabase['db'],
  events: readonly Envelope[],
): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('outbox')
    .values(events.map((event) => ({ id: event.id, event: JSON.stringify(event) })))
    .execute();
}
