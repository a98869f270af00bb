import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { WarehouseUnavailableError } from './warehouse-errors';

type DuckDbAccess = 'read' | 'write';

/**
 * One DuckDB file shared by processes: the loader writes it while `pnpm analytics`, the
 * demo and tests read it. DuckDB lets one process hold a file for writing (or several for
 * reading), so the file is held only while there is work: an opening (80 to 100 ms) serves
 * every operation that follows within `lingerMs`, but the file is let go once idle that
 * long, or held `maxHoldMs`, so another process gets its turn. An open that meets another
 * process's lock is retried with backoff until `lockTimeoutMs`.
 *
 * WARNING: DuckDB does not stop one process from opening the same file twice, which can
 * corrupt it; operations on one path are therefore serialized within the process (one
 * queue per resolved path, shared by every warehouse object on that path).
 */
export interface DuckDbFile {
  readonly path: string;
  /**
   * Runs `work` with the file open. A read of a file that does not exist yet runs on an
   * empty in-memory database prepared by `prepareEmpty`, so reading never creates the file.
   */
  use<T>(
    access: DuckDbAccess,
    work: (connection: DuckDBConnection) => Promise<T>,
    prepareEmpty?: (connection: DuckDBConnection) => Promise<void>,
  ): Promise<T>;
  /** Closes the file now if it is held open, after the operations already queued. */
  release(): Promise<void>;
}

interface Held {
  instance: DuckDBInstance;
  access: DuckDbAccess;
  openedAt: number;
  idleTimer?: NodeJS.Timeout;
}

/** Per resolved path: the queue of operations, and the file while it is held open. */
const paths = new Map<string, { tail: Promise<unknown>; held?: Held }>();

/** Loaded on first use, so that a process on BigQuery never loads DuckDB's native library. */
const duckdb = () => import('@duckdb/node-api');

export function openDuckDbFile(
  path: string,
  { lockTimeoutMs = 5_000, lingerMs = 200, maxHoldMs = 1_000 } = {},
): DuckDbFile {
  const absolute = resolve(path);
  let state = paths.get(absolute);
  if (!state) {
    state = { tail: Promise.resolve() };
    paths.set(absolute, state);
  }
  const shared = state;

  // Closing checkpoints the write-ahead log into the file and releases the lock.
  const letGo = () => {
    const held = shared.held;
    shared.held = undefined;
    if (held?.idleTimer) clearTimeout(held.idleTimer);
    held?.instance.closeSync();
  };

  async function session<T>(
    access: DuckDbAccess,
    work: (connection: DuckDBConnection) => Promise<T>,
    prepareEmpty?: (connection: DuckDBConnection) => Promise<void>,
  ): Promise<T> {
    const held = shared.held;
    if (held) clearTimeout(held.idleTimer);
    // A file held for reading cannot write; one held too long gives another process a turn.
    if (
      held &&
      ((access === 'write' && held.access === 'read') || Date.now() - held.openedAt > maxHoldMs)
    ) {
      letGo();
    }
    const missing = !shared.held && access === 'read' && !existsSync(absolute);
    if (access === 'write') await mkdir(dirname(absolute), { recursive: true });
    if (!shared.held && !missing) {
      shared.held = {
        instance: await openWaitingForLock(absolute, access, lockTimeoutMs),
        access,
        openedAt: Date.now(),
      };
    }
    const instance = missing
      ? await (await duckdb()).DuckDBInstance.create(':memory:')
      : shared.held!.instance;
    try {
      const connection = await instance.connect();
      try {
        if (missing) await prepareEmpty?.(connection);
        return await work(connection);
      } finally {
        connection.closeSync();
      }
    } finally {
      if (missing) instance.closeSync();
      else if (lingerMs <= 0) letGo();
      else if (shared.held) {
        shared.held.idleTimer = setTimeout(() => {
          shared.tail = shared.tail.then(letGo, letGo);
        }, lingerMs).unref();
      }
    }
  }

  const enqueue = <T>(run: () => Promise<T>): Promise<T> => {
    const result = shared.tail.then(run, run);
    shared.tail = result.catch(() => {});
    return result;
  };

  return {
    path: absolute,
    use: (access, work, prepareEmpty) => enqueue(() => session(access, work, prepareEmpty)),
    release: () => enqueue(async () => letGo()),
  };
}

async function openWaitingForLock(
  path: string,
  access: DuckDbAccess,
  lockTimeoutMs: number,
): Promise<DuckDBInstance> {
  const { DuckDBInstance } = await duckdb();
  const deadline = Date.now() + lockTimeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await DuckDBInstance.create(
        path,
        access === 'read' ? { access_mode: 'READ_ONLY' } : {},
      );
    } catch (error) {
      if (!isLockConflict(error)) throw error;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new WarehouseUnavailableError(
          `another process has held ${path} for over ${lockTimeoutMs} ms`,
          { cause: error },
        );
      }
      // 5, 10, 20, 40 ms, then 50 ms, with jitter so that waiting processes do not collide.
      await sleep(Math.min(Math.min(5 * 2 ** attempt, 50) * (0.5 + Math.random()), remaining));
    }
  }
}

function isLockConflict(error: unknown): boolean {
  // Not `instanceof Error`: the native binding's errors may come from another realm (jest).
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /Could not set lock on file/i.test(message);
}
