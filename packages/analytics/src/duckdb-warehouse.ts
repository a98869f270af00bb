import type { DuckDBConnection } from '@duckdb/node-api';
import type { Envelope } from '@orders/events';
import { type AnalyticsRows, analyticsQuery } from './analytics-queries';
import { openDuckDbFile } from './duckdb-file';
import { eventAuditSql, toEventLoadAudit } from './event-audit';
import { type EventRow, toEventRow } from './event-row';
import { dedupViewName, duckDbSchemaStatements, eventColumns } from './events-schema';
import { normalizeRows } from './normalize-rows';
import type { AuditableWarehouse } from './warehouse';

export interface DuckDbWarehouseOptions {
  /** The database file; it and its folder are created by the first load. */
  path: string;
  /** How long an operation waits for another process to release the file (default 5 s). */
  lockTimeoutMs?: number;
  /** The clock of `loaded_at`. */
  now?: () => Date;
}

const table = 'events';
const view = dedupViewName(table);
const rowsPerStatement = 100;

type Outcome = { ok: true } | { ok: false; error: unknown };

interface PendingLoad {
  events: readonly Envelope[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The local warehouse: one DuckDB file with the same table and view as BigQuery. Loads
 * that arrive while the file is busy are committed together in the next session (group
 * commit), and the file stays open while loads keep coming (see `openDuckDbFile`), so a
 * stream of deliveries costs one opening of the file per second, not one each.
 */
export function createDuckDbWarehouse({
  path,
  lockTimeoutMs,
  now = () => new Date(),
}: DuckDbWarehouseOptions): AuditableWarehouse {
  const file = openDuckDbFile(path, { lockTimeoutMs });
  let pending: PendingLoad[] = [];
  let flushQueued = false;
  let closed = false;

  const ensureSchema = async (connection: DuckDBConnection) => {
    for (const statement of duckDbSchemaStatements(table)) await connection.run(statement);
  };

  const takePending = () => {
    flushQueued = false;
    const batch = pending;
    pending = [];
    return batch;
  };

  /** Loads everything pending when the file opens: loads that arrive meanwhile join in. */
  function scheduleFlush(): void {
    flushQueued = true;
    let batch: PendingLoad[] | undefined;
    file
      .use('write', async (connection) => {
        batch = takePending();
        await ensureSchema(connection);
        const loadedAt = now();
        const rowsOf = (load: PendingLoad) => load.events.map((e) => toEventRow(e, loadedAt));
        try {
          await insertAtomically(connection, batch.flatMap(rowsOf));
          return batch.map((): Outcome => ({ ok: true }));
        } catch (error) {
          if (batch.length === 1) throw error;
          // One bad load must not fail the others it was batched with: each on its own.
          const outcomes: Outcome[] = [];
          for (const load of batch) {
            outcomes.push(
              await insertAtomically(connection, rowsOf(load)).then(
                (): Outcome => ({ ok: true }),
                (cause: unknown): Outcome => ({ ok: false, error: cause }),
              ),
            );
          }
          return outcomes;
        }
      })
      .then(
        (outcomes) => {
          for (const [i, load] of batch!.entries()) {
            const outcome = outcomes[i]!;
            if (outcome.ok) load.resolve();
            else load.reject(outcome.error);
          }
        },
        (error: unknown) => {
          for (const load of batch ?? takePending()) load.reject(error);
        },
      );
  }

  return {
    async ensureSchema() {
      await file.use('write', ensureSchema);
    },

    load(events) {
      if (closed) return Promise.reject(new Error('the warehouse is closed'));
      if (events.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        pending.push({ events, resolve, reject });
        if (!flushQueued) scheduleFlush();
      });
    },

    async query<Q extends keyof AnalyticsRows>(name: Q) {
      const definition = analyticsQuery(name);
      const rows = await file.use(
        'read',
        async (connection) =>
          (await connection.runAndReadAll(definition.duckdb(view))).getRowObjectsJS(),
        ensureSchema,
      );
      return normalizeRows(rows, definition.columns) as unknown as AnalyticsRows[Q][];
    },

    async auditEvents(filter = {}) {
      const { orderIds } = filter;
      if (orderIds?.length === 0) return [];
      const where = orderIds
        ? `WHERE order_id IN (${orderIds.map((_, i) => `$${i + 1}`).join(', ')})`
        : '';
      const rows = await file.use(
        'read',
        async (connection) =>
          (
            await connection.runAndReadAll(eventAuditSql(table, view, where), [...(orderIds ?? [])])
          ).getRowObjectsJS(),
        ensureSchema,
      );
      return rows.map(toEventLoadAudit);
    },

    async close() {
      closed = true;
      // Waits for the loads already accepted, then lets the file go.
      await file.release();
    },
  };
}

/** All rows or none, in one transaction. */
async function insertAtomically(connection: DuckDBConnection, rows: readonly EventRow[]) {
  await connection.run('BEGIN TRANSACTION');
  try {
    for (let start = 0; start < rows.length; start += rowsPerStatement) {
      const chunk = rows.slice(start, start + rowsPerStatement);
      const values = chunk.map((_, i) => `(${placeholders(i * eventColumns.length)})`);
      await connection.run(
        `INSERT INTO ${table} (${eventColumns.map((c) => c.name).join(', ')}) VALUES ${values.join(', ')}`,
        chunk.flatMap((row) => eventColumns.map((c) => row[c.name])),
      );
    }
    await connection.run('COMMIT');
  } catch (error) {
    await connection.run('ROLLBACK').catch(() => {});
    throw error;
  }
}

const casts: Record<string, string> = {
  occurred_at: 'TIMESTAMP',
  event_date: 'DATE',
  data: 'JSON',
  loaded_at: 'TIMESTAMP',
};

function placeholders(offset: number): string {
  return eventColumns
    .map((column, i) => {
      const cast = casts[column.name];
      return cast ? `CAST($${offset + i + 1} AS ${cast})` : `$${offset + i + 1}`;
    })
    .join(', ');
}
