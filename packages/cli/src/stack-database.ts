import { createDb, type Database } from '@orders/db';
import type { Kysely } from 'kysely';
import {
  type CliConfig,
  describeDatabase,
  devStackPath,
  locateStack,
  readDevStack,
  readFailure,
  type StackLocation,
} from './stack-location';

/**
 * Runs `work` on the database a tool reads (DATABASE_URL, else the running dev stack's), on
 * one connection, having said which on stderr; a failure to reach it becomes
 * `readFailure`'s (the stale-stack hint when the dev stack file named it). Undefined, having
 * said why, when there is no database to read.
 */
export async function onStackDatabase<T>(
  tool: string,
  config: CliConfig,
  stderr: (text: string) => void,
  work: (db: Kysely<Database>, stack: { location: StackLocation; where: string }) => Promise<T>,
): Promise<{ result: T } | undefined> {
  const path = devStackPath(config);
  const location = locateStack(config, await readDevStack(path), path);
  if (!location.databaseUrl) {
    stderr(
      `${tool}: no database to read: ${path} does not exist (start \`pnpm dev\`) ` +
        'and DATABASE_URL is not set',
    );
    return undefined;
  }
  const where = describeDatabase(location.databaseUrl);
  stderr(`${tool}: ${where}`);
  const db = createDb(location.databaseUrl, { maxConnections: 1 });
  try {
    return { result: await work(db, { location, where }) };
  } catch (error) {
    throw readFailure(error, where, location, config);
  } finally {
    await db.destroy();
  }
}
