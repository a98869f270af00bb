import { randomBytes } from 'node:crypto';
import { createDb, migrateToLatest, seedCatalog } from '@orders/db';
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
