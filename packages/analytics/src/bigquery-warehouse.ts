import { setTimeout as sleep } from 'node:timers/promises';
import type { BigQuery, Query } from '@google-cloud/bigquery';
import type { Envelope } from '@orders/events';
import { messageOf } from '@orders/platform';
import { type AnalyticsRows, analyticsQuery } from './analytics-queries';
import { eventAuditSql, toEventLoadAudit } from './event-audit';
import { type EventRow, toEventRow } from './event-row';
import { bigQuerySchemaScript, dedupViewName } from './events-schema';
import { normalizeRows } from './normalize-rows';
import type { AuditableWarehouse } from './warehouse';
import {
  EventsRejectedError,
  type RejectedEvent,
  WarehouseUnavailableError,
} from './warehouse-errors';

export interface BigQueryWarehouseOptions {
  /** A client for the project; its retry options govern whole-request retries (5xx, 429). */
  client: BigQuery;
  projectId: string;
  dataset: string;
  table: string;
  /** Location of the dataset, for queries and for creating it; the project's default if absent. */
  location?: string | undefined;
  /** Insert attempts for rows that failed with a retryable reason (default 3). */
  insertAttempts?: number;
  /** Delay before the second attempt, doubled for each next one (default 200 ms). */
  retryDelayMs?: number;
  /** The clock of `loaded_at`. */
  now?: () => Date;
}

interface InsertRow {
  insertId: string;
  json: EventRow;
}

/** Row errors that will fail the same way however often they are sent. */
const permanentReasons = new Set(['invalid']);

/**
 * The production warehouse: streaming inserts (`insertAll`) into a day-partitioned,
 * clustered table, with `insertId` = event id so that BigQuery drops a retried copy
 * (best effort, for about a minute; the dedup view covers the rest).
 *
 * A partial failure is sorted by reason: rows that failed with a retryable reason
 * (`backendError`, `internalError`, `timeout`, `stopped` because another row failed, ...)
 * are sent again, up to `insertAttempts` in all; rows BigQuery called `invalid` are
 * reported in an EventsRejectedError once the others are in. Whole-request failures were
 * already retried by the client; what is left is a WarehouseUnavailableError.
 */
export function createBigQueryWarehouse({
  client,
  projectId,
  dataset,
  table,
  location,
  insertAttempts = 3,
  retryDelayMs = 200,
  now = () => new Date(),
}: BigQueryWarehouseOptions): AuditableWarehouse {
  const tableRef = `\`${projectId}.${dataset}.${table}\``;
  const viewRef = `\`${projectId}.${dataset}.${dedupViewName(table)}\``;
  const target = client.dataset(dataset, { projectId, location }).table(table, { location });

  const ensureSchema = async () => {
    await runQuery(bigQuerySchemaScript({ projectId, dataset, table, location }));
  };

  async function runQuery(
    query: string,
    params?: Pick<Query, 'params' | 'types'>,
  ): Promise<Record<string, unknown>[]> {
    try {
      const [rows] = await client.query({ query, location, ...params });
      return rows;
    } catch (error) {
      throw isRetryable(error)
        ? new WarehouseUnavailableError(`BigQuery query failed: ${describe(error)}`, {
            cause: error,
          })
        : error;
    }
  }

  /** One insertAll call; returns the rows to send again and the rows refused for good. */
  async function insertOnce(rows: readonly InsertRow[]) {
    const retry: InsertRow[] = [];
    const rejected: RejectedEvent[] = [];
    try {
      await target.insert(rows, {
        raw: true,
        // The client would resend every failed row, `invalid` ones included: we sort them.
        partialRetries: 0,
        // Valid rows of a call land even when another row of it is invalid.
        skipInvalidRows: true,
        // A field the table does not know is schema drift: refuse it rather than drop it.
        ignoreUnknownValues: false,
      });
    } catch (error) {
      const failures = partialFailures(error);
      if (!failures) throw error;
      for (const failure of failures) {
        const invalid = failure.errors.find((e) => permanentReasons.has(e.reason ?? ''));
        if (invalid) {
          rejected.push({
            eventId: failure.row.insertId,
            reason: invalid.reason ?? 'invalid',
            message: invalid.message ?? '',
          });
        } else {
          retry.push(failure.row);
        }
      }
      const lastReasons = failures.flatMap((f) => f.errors.map((e) => e.reason ?? 'unknown'));
      return { retry, rejected, lastReasons };
    }
    return { retry, rejected, lastReasons: [] };
  }

  return {
    ensureSchema,

    async load(events: readonly Envelope[]) {
      if (events.length === 0) return;
      const loadedAt = now();
      let rows = events.map((event) => ({ insertId: event.id, json: toEventRow(event, loadedAt) }));
      const rejected: RejectedEvent[] = [];
      let createdTable = false;
      for (let attempt = 1; ; attempt++) {
        let outcome: Awaited<ReturnType<typeof insertOnce>>;
        try {
          outcome = await insertOnce(rows);
        } catch (error) {
          const status = statusOf(error);
          if (status === 404 && !createdTable) {
            // First load into a new dataset: create the table and view, then retry once.
            createdTable = true;
            await ensureSchema();
            continue;
          }
          if (status === 400) {
            // The request as a whole was refused (too large, malformed): it will not change.
            const reason = reasonOf(error) ?? 'invalid';
            rejected.push(
              ...rows.map((row) => ({ eventId: row.insertId, reason, message: describe(error) })),
            );
            break;
          }
          throw new WarehouseUnavailableError(`BigQuery insert failed: ${describe(error)}`, {
            cause: error,
          });
        }
        rejected.push(...outcome.rejected);
        if (outcome.retry.length === 0) break;
        if (attempt >= insertAttempts) {
          throw new WarehouseUnavailableError(
            `BigQuery insert: ${outcome.retry.length} row(s) still failing after ${attempt} attempts (${[
              ...new Set(outcome.lastReasons),
            ].join(', ')})`,
          );
        }
        rows = outcome.retry;
        await sleep(retryDelayMs * 2 ** (attempt - 1));
      }
      if (rejected.length > 0) throw new EventsRejectedError(rejected);
    },

    async query<Q extends keyof AnalyticsRows>(name: Q) {
      const definition = analyticsQuery(name);
      const rows = await runQuery(definition.bigquery(viewRef));
      return normalizeRows(rows, definition.columns) as unknown as AnalyticsRows[Q][];
    },

    async auditEvents(filter = {}) {
      const { orderIds } = filter;
      if (orderIds?.length === 0) return [];
      const rows = orderIds
        ? await runQuery(eventAuditSql(tableRef, viewRef, 'WHERE order_id IN UNNEST(@orderIds)'), {
            params: { orderIds: [...orderIds] },
            types: { orderIds: ['STRING'] },
          })
        : await runQuery(eventAuditSql(tableRef, viewRef, ''));
      return rows.map(toEventLoadAudit);
    },

    async close() {},
  };
}

interface PartialFailure {
  row: InsertRow;
  errors: { reason?: string; message?: string }[];
}

function partialFailures(error: unknown): PartialFailure[] | undefined {
  if (!(error instanceof Error) || error.name !== 'PartialFailureError') return undefined;
  return (error as Error & { errors: PartialFailure[] }).errors;
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function reasonOf(error: unknown): string | undefined {
  const errors = (error as { errors?: { reason?: string }[] } | null)?.errors;
  return errors?.[0]?.reason;
}

/** 5xx, 429, a lost connection: worth another try; a 4xx is not. */
function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status === 429 || status >= 500;
}

function describe(error: unknown): string {
  const status = statusOf(error);
  const message = messageOf(error);
  return status ? `${status} ${message}` : message;
}
