import { setTimeout as sleep } from 'node:timers/promises';
import type { BigQuery, Query } from '@google-cloud/bigquery';
import type { Envelope } from '@orders/events';
import {
  type Authorize,
  applicationDefaultCredentials,
  httpCalls,
  isTransientStatus,
  messageOf,
  parseJsonObject,
} from '@orders/platform';
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

/** BigQuery's REST API, where `insertAll` goes unless `apiEndpoint` says otherwise. */
const googleBigQueryEndpoint = 'https://bigquery.googleapis.com';
const bigQueryScope = 'https://www.googleapis.com/auth/bigquery.insertdata';

export interface BigQueryWarehouseOptions {
  /**
   * The client library, for queries and for creating the table and view: made on its first
   * use, so that a loader that only inserts never loads it (about 250 ms of a cold start).
   */
  client: () => BigQuery;
  projectId: string;
  dataset: string;
  table: string;
  /** Location of the dataset, for queries and for creating it; the project's default if absent. */
  location?: string | undefined;
  /** The root of BigQuery's REST API for `insertAll` (`BIGQUERY_API_ENDPOINT`); Google's by default. */
  apiEndpoint?: string | undefined;
  /** Headers that authorize an `insertAll` call; Application Default Credentials by default. */
  authorize?: Authorize;
  /** `insertAll` calls before giving up on a transient failure, of the call or of rows (default 3). */
  insertAttempts?: number;
  /** Delay before the second attempt, doubled for each next one (default 200 ms). */
  retryDelayMs?: number;
  /** Timeout of one `insertAll` call (default 10 s). */
  callTimeoutMs?: number;
  /** The clock of `loaded_at`. */
  now?: () => Date;
}

interface InsertRow {
  insertId: string;
  json: EventRow;
}

/** What one `insertAll` call came to. */
type InsertOutcome =
  /** BigQuery answered 200: the rows to send again, and those it refused for good. */
  | { kind: 'answered'; retry: InsertRow[]; rejected: RejectedEvent[]; lastReasons: string[] }
  /** The table (or dataset) does not exist. */
  | { kind: 'missing'; detail: string }
  /** The request as a whole was refused (malformed, too large): it will not change. */
  | { kind: 'refused'; reason: string; message: string }
  /** No answer, or one that says "later" (5xx, 429, 408). */
  | { kind: 'transient'; detail: string; cause?: unknown }
  /** Any other refusal (credentials, permissions, quota): not the events' fault. */
  | { kind: 'failed'; detail: string };

/** Row errors that will fail the same way however often they are sent. */
const permanentReasons = new Set(['invalid']);

/**
 * The production warehouse: streaming inserts (`tabledata.insertAll` over HTTPS, with
 * Application Default Credentials) into a day-partitioned, clustered table, with `insertId`
 * = event id so that BigQuery drops a retried copy (best effort, for about a minute; the
 * dedup view covers the rest). Inserting is one POST: the analytics loader never loads the
 * client library, which queries and creating the table still use.
 *
 * A call that got no answer or a transient status (5xx, 429) is made again; a partial failure
 * is sorted by reason: rows that failed with a retryable reason (`backendError`,
 * `internalError`, `timeout`, `stopped` because another row failed, ...) are sent again; both
 * up to `insertAttempts` calls in all, then a WarehouseUnavailableError. Rows BigQuery called
 * `invalid`, or all rows of a request it refused with 400, are reported in an
 * EventsRejectedError once the others are in (the loader dead-letters them with the reason).
 * A missing table is created (with its view) and the call made again, once.
 */
export function createBigQueryWarehouse({
  client,
  projectId,
  dataset,
  table,
  location,
  apiEndpoint = googleBigQueryEndpoint,
  authorize = applicationDefaultCredentials(bigQueryScope),
  insertAttempts = 3,
  retryDelayMs = 200,
  callTimeoutMs = 10_000,
  now = () => new Date(),
}: BigQueryWarehouseOptions): AuditableWarehouse {
  const tableRef = `\`${projectId}.${dataset}.${table}\``;
  const viewRef = `\`${projectId}.${dataset}.${dedupViewName(table)}\``;
  const insertUrl = `${apiEndpoint.replace(/\/+$/, '')}/bigquery/v2/projects/${encodeURIComponent(
    projectId,
  )}/datasets/${encodeURIComponent(dataset)}/tables/${encodeURIComponent(table)}/insertAll`;
  const http = httpCalls({ timeoutMs: callTimeoutMs });
  let library: BigQuery | undefined;

  const ensureSchema = async () => {
    await runQuery(bigQuerySchemaScript({ projectId, dataset, table, location }));
  };

  async function runQuery(
    query: string,
    params?: Pick<Query, 'params' | 'types'>,
  ): Promise<Record<string, unknown>[]> {
    try {
      library ??= client();
      const [rows] = await library.query({ query, location, ...params });
      return rows;
    } catch (error) {
      throw isRetryable(error)
        ? new WarehouseUnavailableError(`BigQuery query failed: ${describe(error)}`, {
            cause: error,
          })
        : error;
    }
  }

  /** One insertAll call, and what it came to. */
  async function insertOnce(rows: readonly InsertRow[]): Promise<InsertOutcome> {
    const body = JSON.stringify({
      // Valid rows of a call land even when another row of it is invalid.
      skipInvalidRows: true,
      // A field the table does not know is schema drift: refuse it rather than drop it.
      ignoreUnknownValues: false,
      rows,
    });
    let answer: { status: number; text: string };
    try {
      const headers = { 'content-type': 'application/json', ...(await authorize()) };
      answer = await http.post(insertUrl, headers, body);
    } catch (error) {
      return { kind: 'transient', detail: messageOf(error), cause: error };
    }
    const { status, text } = answer;
    const answerBody = parseJsonObject(text);
    if (status === 200) {
      // A 200 that is not insertAll's object (a proxy's page): nothing says the rows landed.
      if (answerBody === undefined) {
        return {
          kind: 'transient',
          detail: `200 without an insertAll answer: ${text.slice(0, 200)}`,
        };
      }
      return sortRowErrors(rows, answerBody as InsertAllResponse);
    }
    const error = (answerBody as ErrorResponse | undefined)?.error;
    const message = error?.message ?? text.slice(0, 500);
    if (status === 404) return { kind: 'missing', detail: `404 ${message}` };
    if (status === 400 || status === 413) {
      return { kind: 'refused', reason: error?.errors?.[0]?.reason ?? 'invalid', message };
    }
    const detail = `${status} ${message}`;
    // BigQuery answers its rate limits and quotas with 403 too: those pass, a refusal does not.
    const rateLimited = status === 403 && rateLimitReasons.has(error?.errors?.[0]?.reason ?? '');
    return isTransientStatus(status) || rateLimited
      ? { kind: 'transient', detail }
      : { kind: 'failed', detail };
  }

  return {
    ensureSchema,

    async load(events: readonly Envelope[]) {
      if (events.length === 0) return;
      const loadedAt = now();
      let rows = events.map((event) => ({ insertId: event.id, json: toEventRow(event, loadedAt) }));
      const rejected: RejectedEvent[] = [];
      let createdTable = false;
      let attempt = 0;
      for (;;) {
        const outcome = await insertOnce(rows);
        if (outcome.kind === 'missing' && !createdTable) {
          // First load into a new dataset: create the table and view, then call again.
          createdTable = true;
          await ensureSchema();
          continue;
        }
        attempt++;
        if (outcome.kind === 'refused') {
          const { reason, message } = outcome;
          rejected.push(...rows.map((row) => ({ eventId: row.insertId, reason, message })));
          break;
        }
        if (outcome.kind === 'missing' || outcome.kind === 'failed') {
          throw new WarehouseUnavailableError(`BigQuery insert failed: ${outcome.detail}`);
        }
        if (outcome.kind === 'transient') {
          if (attempt >= insertAttempts) {
            throw new WarehouseUnavailableError(
              `BigQuery insert failed after ${attempt} attempts: ${outcome.detail}`,
              { cause: outcome.cause },
            );
          }
        } else {
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
        }
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

/** The reasons of a 403 that is a rate limit or quota, not a refusal of the credentials. */
const rateLimitReasons = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded']);

interface InsertAllResponse {
  insertErrors?: { index: number; errors?: { reason?: string; message?: string }[] }[];
}

interface ErrorResponse {
  error?: { message?: string; errors?: { reason?: string }[] };
}

/** The rows of a call answered 200 that BigQuery listed in `insertErrors`, sorted by reason. */
function sortRowErrors(rows: readonly InsertRow[], response: InsertAllResponse | undefined) {
  const retry: InsertRow[] = [];
  const rejected: RejectedEvent[] = [];
  const lastReasons: string[] = [];
  for (const { index, errors = [] } of response?.insertErrors ?? []) {
    const row = rows[index];
    if (!row) continue;
    lastReasons.push(...errors.map((e) => e.reason ?? 'unknown'));
    const invalid = errors.find((e) => permanentReasons.has(e.reason ?? ''));
    if (invalid) {
      rejected.push({
        eventId: row.insertId,
        reason: invalid.reason ?? 'invalid',
        message: invalid.message ?? '',
      });
    } else {
      retry.push(row);
    }
  }
  return { kind: 'answered' as const, retry, rejected, lastReasons };
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
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
