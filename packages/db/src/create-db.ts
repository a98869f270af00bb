import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

export interface DbOptions {
  /** Connections in the pool; Cloud Run serves several requests per instance. */
  maxConnections?: number;
  /** Milliseconds to wait for a connection before failing (the request then answers 503). */
  connectionTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** Told when a pooled connection dies (the pool drops it and carries on). */
  onConnectionError?: (error: Error) => void;
}

const INT8 = 20;

// int8 (bigint, used for money) arrives as a string by default; minor units stay far
// below 2^53, so a number is exact. Refuse loudly rather than round if one ever is not.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 && format !== 'binary') {
      return (value: string) => {
        const number = Number(value);
        if (!Number.isSafeInteger(number)) throw new RangeError(`int8 ${value} exceeds 2^53`);
        return number;
      };
    }
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function createPool(url: string, options: DbOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    // Every timestamp is UTC, whatever the server's default.
    options: '-c TimeZone=UTC',
    types,
  });
  // A connection that dies (a restart, a failover, a network cut) emits 'error': on the pool
  // while idle, on the client while checked out between two queries. Without listeners that
  // would crash the process; the failed query reports it, and the pool drops the connection.
  const onError = options.onConnectionError ?? (() => {});
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

export function createDb(url: string, options: DbOptions = {}): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, options) }) });
}
