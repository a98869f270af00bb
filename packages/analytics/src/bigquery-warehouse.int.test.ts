import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent } from '@orders/events';
import {
  type GoogleApiDouble,
  type GoogleApiRequest,
  startGoogleApiDouble,
} from '@orders/local-stack';

/**
 * The BigQuery warehouse as deployed, against a double of the Google APIs it calls (what
 * cannot run here) on a local port: BigQuery's REST API, and the metadata server that
 * Application Default Credentials read on Cloud Run (GCE_METADATA_HOST), so that the token
 * each call carries is the one the credentials fetched. Inserts go over the warehouse's own
 * HTTPS calls; queries and the table's creation through the real client library. The test
 * asserts what is sent and how the adapter reads the answers.
 *
 * The warehouse runs in a Node process of its own, from the built package: the library's
 * transport imports node-fetch (ESM only) dynamically, which jest's module sandbox cannot do.
 */
type Outcome =
  | { ok: true; value: unknown }
  | {
      ok: false;
      error: { name: string; message: string; rejected?: unknown; reason?: string };
    };

const packageDir = join(__dirname, '..');
let double: GoogleApiDouble;
let client: ChildProcess;
let home: string;
const replies = new Map<number, (outcome: Outcome) => void>();
let nextCall = 0;
const insertPath = '/bigquery/v2/projects/orders-prod/datasets/orders/tables/events/insertAll';

/** The client process: one warehouse, driven by JSON lines `{id, op, arg}` on stdin. */
const clientScript = `
const { BigQuery } = require('@google-cloud/bigquery');
const { createLogger } = require('@orders/platform');
const { createAnalyticsLoadHandler, createBigQueryWarehouse } = require('./dist/index.js');
const apiEndpoint = process.argv[1];
const warehouse = createBigQueryWarehouse({
  client: () => new BigQuery({
    projectId: 'orders-prod',
    apiEndpoint,
    // One quick retry of a failed query: what the adapter then sees is the client's verdict.
    retryOptions: { maxRetries: 1, retryDelayMultiplier: 1, totalTimeout: 10 },
  }),
  apiEndpoint, projectId: 'orders-prod', dataset: 'orders', table: 'events', location: 'EU',
  retryDelayMs: 10, now: () => new Date('2026-05-01T12:00:00.000Z'),
});
const handle = createAnalyticsLoadHandler(warehouse);
const ops = {
  load: (events) => warehouse.load(events),
  query: (name) => warehouse.query(name),
  audit: (filter) => warehouse.auditEvents(filter),
  handle: (event) => handle(event, { log: createLogger({ level: 'error' }) }),
};
require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, op, arg } = JSON.parse(line);
  const outcome = await ops[op](arg).then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error: { name: error.name, message: error.message, rejected: error.rejected, reason: error.reason } }),
  );
  process.stdout.write(JSON.stringify({ id, ...outcome }) + '\\n');
});
`;

beforeAll(async () => {
  if (!existsSync(join(packageDir, 'dist', 'index.js'))) {
    throw new Error('packages/analytics/dist is missing: build first (pnpm build)');
  }
  double = await startGoogleApiDouble({ projectId: 'orders-prod' });
  // A home without gcloud's login, and no key file: the credentials are the metadata server's.
  home = mkdtempSync(join(tmpdir(), 'orders-bigquery-home-'));
  const { GOOGLE_APPLICATION_CREDENTIALS: _keyFile, ...env } = process.env;
  client = spawn(process.execPath, ['-e', clientScript, double.bigQueryEndpoint], {
    cwd: packageDir,
    env: { ...env, HOME: home, GCE_METADATA_HOST: double.metadataHost },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createInterface({ input: client.stdout! }).on('line', (line) => {
    const { id, ...outcome } = JSON.parse(line) as Outcome & { id: number };
    replies.get(id)?.(outcome);
    replies.delete(id);
  });
  client.on('exit', (code) => {
    const error = { name: 'ClientExited', message: `the client process exited (${code})` };
    for (const reply of replies.values()) reply({ ok: false, error });
  });
});

beforeEach(() => double.reset());

afterAll(async () => {
  client?.stdin?.end();
  client?.kill();
  await double?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

function call(op: 'load' | 'query' | 'audit' | 'handle', arg: unknown): Promise<Outcome> {
  const id = nextCall++;
  return new Promise((resolve) => {
    replies.set(id, resolve);
    client.stdin!.write(`${JSON.stringify({ id, op, arg })}\n`);
  });
}

function orderPlaced(): DomainEvent<'OrderPlaced'> {
  const orderId = randomUUID();
  return createEvent(
    'OrderPlaced',
    {
      orderId,
      customerId: 'cust-1',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 2, unitPriceMinor: 1299 }],
      totalMinor: 2598,
    },
    {
      source: 'place-order',
      correlationId: randomUUID(),
      occurredAt: new Date('2026-04-30T23:00:00.000Z'),
    },
  );
}

const inserted = { kind: 'bigquery#tableDataInsertAllResponse' };

/** The insertIds of an insertAll request, in order. */
function insertIds(request: GoogleApiRequest): string[] {
  return (request.body.rows as { insertId: string }[]).map((row) => row.insertId);
}

describe('createBigQueryWarehouse: streaming inserts', () => {
  it('sends every event as a raw row keyed by its event id, with the token of the credentials', async () => {
    const events = [orderPlaced(), orderPlaced()];
    expect(await call('load', events)).toEqual({ ok: true });

    expect(double.requests).toHaveLength(1);
    const [request] = double.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: insertPath,
      authorization: `Bearer ${double.accessToken}`,
    });
    expect(request!.body).toEqual({
      skipInvalidRows: true,
      ignoreUnknownValues: false,
      rows: events.map((event) => ({
        insertId: event.id,
        json: {
          event_id: event.id,
          event_type: 'OrderPlaced',
          event_version: 2,
          source: 'place-order',
          occurred_at: '2026-04-30T23:00:00.000Z',
          event_date: '2026-04-30',
          order_id: event.subject,
          correlation_id: event.correlationId,
          causation_id: null,
          data: JSON.stringify(event.data),
          loaded_at: '2026-05-01T12:00:00.000Z',
        },
      })),
    });
    expect(double.inserted.map((row) => [row.table, row.insertId])).toEqual(
      events.map((event) => ['orders-prod.orders.events', event.id]),
    );
  });

  it('resends only the rows that failed with a retryable reason', async () => {
    const events = [orderPlaced(), orderPlaced(), orderPlaced()];
    double.respond = () =>
      double.requests.length === 1
        ? {
            body: {
              ...inserted,
              insertErrors: [
                { index: 1, errors: [{ reason: 'backendError', message: 'try again' }] },
              ],
            },
          }
        : { body: inserted };
    expect(await call('load', events)).toEqual({ ok: true });

    expect(double.requests.map(insertIds)).toEqual([events.map((e) => e.id), [events[1]!.id]]);
  });

  it('reports an invalid row as rejected with its reason, after resending the rows stopped by it', async () => {
    const [bad, good] = [orderPlaced(), orderPlaced()];
    double.respond = () =>
      double.requests.length === 1
        ? {
            body: {
              ...inserted,
              insertErrors: [
                {
                  index: 0,
                  errors: [
                    { reason: 'invalid', location: 'data', message: 'Field data: invalid JSON' },
                  ],
                },
                { index: 1, errors: [{ reason: 'stopped', message: '' }] },
              ],
            },
          }
        : { body: inserted };
    expect(await call('load', [bad, good])).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'EventsRejectedError',
        rejected: [{ eventId: bad!.id, reason: 'invalid', message: 'Field data: invalid JSON' }],
      }),
    });
    expect(double.requests.map(insertIds)).toEqual([[bad!.id, good!.id], [good!.id]]);
  });

  it('gives up on rows that keep failing after its attempts, as a transient error', async () => {
    const event = orderPlaced();
    double.respond = () => ({
      body: {
        ...inserted,
        insertErrors: [{ index: 0, errors: [{ reason: 'timeout', message: 'deadline' }] }],
      },
    });
    expect(await call('load', [event])).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'WarehouseUnavailableError',
        message: expect.stringMatching(/1 row\(s\) still failing after 3 attempts \(timeout\)/),
      }),
    });
    expect(double.requests.map(insertIds)).toEqual([[event.id], [event.id], [event.id]]);
  });

  it('makes a call again after a 503, and the row lands once', async () => {
    const event = orderPlaced();
    double.respond = () =>
      double.requests.length === 1
        ? { status: 503, body: { error: { code: 503, message: 'unavailable' } } }
        : undefined;
    expect(await call('load', [event])).toEqual({ ok: true });

    expect(double.requests.map(insertIds)).toEqual([[event.id], [event.id]]);
    expect(double.inserted.map((row) => row.insertId)).toEqual([event.id]);
  });

  it('makes a call again after a 403 rate limit (BigQuery sends its quotas as 403), and the row lands once', async () => {
    const event = orderPlaced();
    double.respond = () =>
      double.requests.length === 1
        ? {
            status: 403,
            body: {
              error: {
                code: 403,
                message: 'Exceeded rate limits: too many api requests per user per method',
                errors: [{ reason: 'rateLimitExceeded' }],
              },
            },
          }
        : undefined;
    expect(await call('load', [event])).toEqual({ ok: true });

    expect(double.requests.map(insertIds)).toEqual([[event.id], [event.id]]);
    expect(double.inserted.map((row) => row.insertId)).toEqual([event.id]);
  });

  it('does not take a 200 that is not an insertAll answer (a proxy page) for a load, and calls again', async () => {
    const event = orderPlaced();
    double.respond = () =>
      double.requests.length === 1 ? { status: 200, body: '<html>gateway</html>' } : undefined;
    expect(await call('load', [event])).toEqual({ ok: true });

    // Sent again with the same insertId, which BigQuery drops if the first did land.
    expect(double.requests.map(insertIds)).toEqual([[event.id], [event.id]]);
  });

  it('turns a 5xx that outlives its attempts into a transient error', async () => {
    double.respond = () => ({
      status: 503,
      body: { error: { code: 503, message: 'unavailable' } },
    });
    expect(await call('load', [orderPlaced()])).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'WarehouseUnavailableError',
        message: expect.stringMatching(/BigQuery insert failed after 3 attempts: 503 unavailable/),
      }),
    });
    expect(double.requests.map((request) => request.path)).toEqual([
      insertPath,
      insertPath,
      insertPath,
    ]);
  });

  it('rejects every event of a request BigQuery refuses with 400, with its reason, at once', async () => {
    const events = [orderPlaced(), orderPlaced()];
    const message = 'Request payload size exceeds the limit';
    double.respond = () => ({
      status: 400,
      body: { error: { code: 400, message, errors: [{ reason: 'badRequest', message }] } },
    });
    expect(await call('load', events)).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'EventsRejectedError',
        rejected: events.map((event) => ({ eventId: event.id, reason: 'badRequest', message })),
      }),
    });
    expect(double.requests).toHaveLength(1);
  });

  it('leaves a refusal of its credentials to a later delivery, without retrying it', async () => {
    double.respond = () => ({
      status: 403,
      body: { error: { code: 403, message: 'Access Denied: bigquery.tables.updateData' } },
    });
    expect(await call('load', [orderPlaced()])).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'WarehouseUnavailableError',
        message: 'BigQuery insert failed: 403 Access Denied: bigquery.tables.updateData',
      }),
    });
    expect(double.requests).toHaveLength(1);
  });

  it('creates the missing table and view (partitioned, clustered) then loads', async () => {
    const event = orderPlaced();
    let tableExists = false;
    double.respond = (request) => {
      if (request.path === '/bigquery/v2/projects/orders-prod/queries') {
        tableExists = true;
        return {
          body: {
            kind: 'bigquery#queryResponse',
            jobComplete: true,
            jobReference: { projectId: 'orders-prod', jobId: 'ddl-1', location: 'EU' },
          },
        };
      }
      return tableExists
        ? { body: inserted }
        : {
            status: 404,
            body: { error: { code: 404, message: 'Not found: Table orders-prod:orders.events' } },
          };
    };
    expect(await call('load', [event])).toEqual({ ok: true });

    expect(double.requests.map((request) => request.path)).toEqual([
      insertPath,
      '/bigquery/v2/projects/orders-prod/queries',
      insertPath,
    ]);
    expect(double.inserted.map((row) => row.insertId)).toEqual([event.id]);
    const ddl = double.requests[1]!.body;
    expect(ddl).toMatchObject({ location: 'EU', useLegacySql: false });
    expect(ddl.query).toContain(
      "CREATE SCHEMA IF NOT EXISTS `orders-prod.orders` OPTIONS (location = 'EU')",
    );
    expect(ddl.query).toMatch(
      /CREATE TABLE IF NOT EXISTS `orders-prod\.orders\.events` \(\n {2}event_id STRING NOT NULL[\s\S]*\)\nPARTITION BY event_date\nCLUSTER BY event_type/,
    );
    expect(ddl.query).toContain('CREATE VIEW IF NOT EXISTS `orders-prod.orders.events_deduped`');
  });
});

describe('createBigQueryWarehouse: queries', () => {
  it('runs a named query over the dedup view and returns the same row shape as DuckDB', async () => {
    double.respond = () => ({
      body: {
        kind: 'bigquery#queryResponse',
        jobComplete: true,
        jobReference: { projectId: 'orders-prod', jobId: 'job-1', location: 'EU' },
        totalRows: '2',
        schema: {
          fields: [
            { name: 'reason', type: 'STRING' },
            { name: 'failures', type: 'INTEGER' },
            { name: 'requests', type: 'INTEGER' },
            { name: 'rate', type: 'FLOAT' },
          ],
        },
        rows: [
          { f: [{ v: 'declined' }, { v: '3' }, { v: '12' }, { v: '0.25' }] },
          { f: [{ v: 'all declines' }, { v: '3' }, { v: '12' }, { v: '0.25' }] },
        ],
      },
    });
    expect(await call('query', 'decline-rate')).toEqual({
      ok: true,
      value: [
        { reason: 'declined', failures: 3, requests: 12, rate: 0.25 },
        { reason: 'all declines', failures: 3, requests: 12, rate: 0.25 },
      ],
    });
    expect(double.requests[0]!.path).toBe('/bigquery/v2/projects/orders-prod/queries');
    expect(double.requests[0]!.body.query).toContain('FROM `orders-prod.orders.events_deduped`');
  });

  it('audits by order id with a query parameter', async () => {
    double.respond = () => ({
      body: {
        kind: 'bigquery#queryResponse',
        jobComplete: true,
        jobReference: { projectId: 'orders-prod', jobId: 'job-2', location: 'EU' },
        schema: {
          fields: ['event_id', 'event_type', 'order_id', 'raw_rows', 'view_rows'].map((name) => ({
            name,
            type: name.endsWith('rows') ? 'INTEGER' : 'STRING',
          })),
        },
        rows: [{ f: [{ v: 'e-1' }, { v: 'OrderPlaced' }, { v: 'o-1' }, { v: '2' }, { v: '1' }] }],
      },
    });
    expect(await call('audit', { orderIds: ['o-1'] })).toEqual({
      ok: true,
      value: [
        {
          eventId: 'e-1',
          eventType: 'OrderPlaced',
          orderId: 'o-1',
          rawRows: 2,
          viewRows: 1,
          exactlyOnce: true,
        },
      ],
    });
    expect(double.requests[0]!.body).toMatchObject({
      query: expect.stringContaining('WHERE order_id IN UNNEST(@orderIds)'),
      queryParameters: [
        {
          name: 'orderIds',
          parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } },
          parameterValue: { arrayValues: [{ value: 'o-1' }] },
        },
      ],
    });
  });
});

describe('createAnalyticsLoadHandler on BigQuery', () => {
  it('makes an invalid row an unprocessable event carrying BigQuery reason and message', async () => {
    double.respond = () => ({
      body: {
        ...inserted,
        insertErrors: [
          { index: 0, errors: [{ reason: 'invalid', message: 'no such field: extra' }] },
        ],
      },
    });
    expect(await call('handle', orderPlaced())).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'UnprocessableEventError',
        reason: 'warehouse rejected the event: invalid: no such field: extra',
      }),
    });
  });

  it('lets a transient failure through, so that Pub/Sub redelivers', async () => {
    double.respond = () => ({ status: 500, body: { error: { code: 500, message: 'internal' } } });
    expect(await call('handle', orderPlaced())).toEqual({
      ok: false,
      error: expect.objectContaining({ name: 'WarehouseUnavailableError' }),
    });
  });
});
