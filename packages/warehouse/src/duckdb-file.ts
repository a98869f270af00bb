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
 * reading), so every operation opens the file, does its work and closes it; an open that
 * meets another process's lock is retried with backoff until `lockTimeoutMs`.
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
}

const queues = new Map<string, { tail: Promise<unknown> }>();

/** Loaded on first use, so that a process on BigQuery never loads DuckDB's native library. */
const duckdb = () => import('@duckdb/node-api');

export function openDuckDbFile(path: string, { lockTimeoutMs = 5_000 } = {}): DuckDbFile {
  const absolute = resolve(path);
  let queue = queues.get(absolute);
  if (!queue) {
    queue = { tail: Promise.resolve() };
    queues.set(absolute, queue);
  }
  const serial = queue;

  async function session<T>(
    access: DuckDbAccess,
    work: (connection: DuckDBConnection) => Promise<T>,
    prepareEmpty?: (connection: DuckDBConnection) => Promise<void>,
  ): Promise<T> {
    const missing = access === 'read' && !existsSync(absolute);
    if (access === 'write') await mkdir(dirname(absolute), { recursive: true });
    const instance = missing
      ? await (await duckdb()).DuckDBInstance.create(':memory:')
      : await openWaitingForLock(absolute, access, lockTimeoutMs);
    try {
      const connection = await instance.connect();
      try {
        if (missing) await prepareEmpty?.(connection);
        return await work(connection);
      } finally {
        connection.closeSync();
      }
    } finally {
      // Closing checkpoints the write-ahead log into the file and releases the lock.
      instance.closeSync();
    }
  }

  return {
    path: absolute,
    use(access, work, prepareEmpty) {
      const run = serial.tail.then(
        () => session(access, work, prepareEmpty),
        () => session(access, work, prepareEmpty),
      );
      serial.tail = run.catch(() => {});
      return run;
    },
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
