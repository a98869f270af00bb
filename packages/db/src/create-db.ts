import type { Duplex } from 'node:stream';
import { Kysely, PostgresDialect, type PostgresPool } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

/** A Cloud SQL for PostgreSQL instance, reached over its private IP as an IAM database user. */
export interface CloudSqlLocation {
  /** `project:region:instance`. */
  instanceConnectionName: string;
  /** The IAM user: `<service account>@<project>.iam` (no `.gserviceaccount.com`). */
  user: string;
  database: string;
}

/** The part of `@google-cloud/cloud-sql-connector`'s Connector that createDb uses. */
export interface CloudSqlConnector {
  getOptions(options: {
    instanceConnectionName: string;
    ipType: 'PRIVATE';
    authType: 'IAM';
  }): Promise<{ stream: () => Duplex }>;
  close(): void;
}

export interface DbOptions {
  /** Connections in the pool (5 with Cloud SQL, 10 otherwise); Cloud Run serves several requests per instance. */
  maxConnections?: number;
  /** Milliseconds to wait for a connection before failing (the request then answers 503). */
  connectionTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** Told when a pooled connection dies (the pool drops it and carries on). */
  onConnectionError?: (error: Error) => void;
  /** Reaches a CloudSqlLocation; the real connector when not given. Closed with the pool. */
  connector?: CloudSqlConnector;
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

type Connection = Pick<pg.PoolConfig, 'connectionString' | 'stream' | 'user' | 'database'>;

function createPool(connection: Connection, defaultSize: number, options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connection,
    max: options.maxConnections ?? defaultSize,
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

async function openConnector(): Promise<CloudSqlConnector> {
  // Loaded only in production: the connector pulls in the Cloud SQL Admin API client.
  const { Connector } = await import('@google-cloud/cloud-sql-connector');
  const connector = new Connector();
  return {
    getOptions: (options) =>
      connector.getOptions(options as Parameters<typeof connector.getOptions>[0]),
    close: () => connector.close(),
  };
}

/**
 * A pool whose connections go through the Cloud SQL connector: TLS to the instance's private
 * IP with an ephemeral certificate, and IAM database authentication (no password). It is
 * opened at the first query (asking the connector is asynchronous); a failure there fails
 * that query and the next one tries again.
 */
function cloudSqlPool(location: CloudSqlLocation, options: DbOptions): () => Promise<PostgresPool> {
  return async () => {
    const connector = options.connector ?? (await openConnector());
    const { stream } = await connector.getOptions({
      instanceConnectionName: location.instanceConnectionName,
      ipType: 'PRIVATE',
      authType: 'IAM',
    });
    const pool = createPool(
      { stream, user: location.user, database: location.database },
      5,
      options,
    );
    return {
      Client: pg.Client,
      options: pool.options,
      connect: () => pool.connect(),
      end: async () => {
        await pool.end();
        connector.close();
      },
    };
  };
}

/** A database at a `postgres://` URL (local), or a Cloud SQL instance (production). */
export function createDb(
  location: string | CloudSqlLocation,
  options: DbOptions = {},
): Kysely<Database> {
  const pool =
    typeof location === 'string'
      ? createPool({ connectionString: location }, 10, options)
      : cloudSqlPool(location, options);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
