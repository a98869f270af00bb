import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createEvent } from '@orders/events';
import {
  extractField,
  loadTerraform,
  logEntryOf,
  logMetrics,
  matchesLogFilter,
} from '@orders/infra-policy';
import {
  createTopology,
  pullMessages,
  queryOnce,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient, outboxRows } from '@orders/messaging';
import { insertOutboxRows } from '@orders/messaging/testing';
import { createLogger } from '@orders/platform';
import { gaugeStep } from './gauges';

const projectId = testProjectId('housekeeping');
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;
/** Every JSON line the function wrote to stdout (its logger's), parsed. */
const written: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await testDatabase('housekeeping');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  await pubsub.topic('analytics').createSubscription('analytics-tap');
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    // An operator who wants warnings only still gets the gauges: the metrics read them.
    LOG_LEVEL: 'warn',
    OUTBOX_RELAY_MIN_AGE_MS: '0',
    GAUGE_INTERVAL_SECONDS: '0',
  });
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    for (const line of String(chunk).split('\n')) {
      if (line.startsWith('{')) written.push(JSON.parse(line));
    }
    return true;
  });
  require('./index');
  served = await serveFunction('runHousekeeping', { projectId, topic: 'housekeeping' });
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
  jest.restoreAllMocks();
});

/** A Cloud Scheduler tick, as Pub/Sub pushes it. */
function tick() {
  return served.deliver({ data: Buffer.from('{"job":"housekeeping"}') });
}

/** The gauge lines a real tick writes (GAUGE_INTERVAL_SECONDS 0: every tick logs them). */
async function gaugeLinesOfTick(): Promise<Record<string, unknown>[]> {
  written.length = 0;
  expect((await tick()).status).toBe(204);
  return written.filter((line) => line.message === 'housekeeping gauge');
}

/** The gauges a real tick logs: `name` or `name:status` => value. */
async function gaugesOfTick(): Promise<Record<string, unknown>> {
  const lines = await gaugeLinesOfTick();
  for (const line of lines)
    expect(line).toMatchObject({ severity: 'INFO', service: 'housekeeping' });
  const gauges = Object.fromEntries(
    lines.map((line) => [line.status ? `${line.gauge}:${line.status}` : line.gauge, line.value]),
  );
  expect(Object.keys(gauges)).toHaveLength(lines.length); // one line per gauge
  return gauges;
}

describe('housekeeping', () => {
  it('publishes outbox rows a crash left unsent, exactly once', async () => {
    const event = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    await insertOutboxRows(database.db, [event]);

    expect((await tick()).status).toBe(204);
    expect((await tick()).status).toBe(204);
    const published = await pullMessages(pubsub, 'analytics-tap', { count: 2, timeoutMs: 1500 });
    expect(published.map((message) => message.attributes.event_id)).toEqual([event.id]);
    const row = await database.db
      .selectFrom('outbox')
      .select('sent_at')
      .where('id', '=', event.id)
      .executeTakeFirstOrThrow();
    expect(row.sent_at).not.toBeNull();
  });

  it('wakes an order whose payment deadline passed: it is cancelled and its payment voided', async () => {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    await database.db
      .insertInto('orders')
      .values({
        id: orderId,
        customer_id: 'c',
        currency: 'EUR',
        total_minor: 350,
        status: 'AWAITING_PAYMENT',
        correlation_id: correlationId,
      })
      .execute();
    await database.db
      .updateTable('products')
      .set((eb) => ({ stock: eb('stock', '-', 1) }))
      .where('sku', '=', 'FILTER-10')
      .execute();
    await database.db
      .insertInto('stock_reservations')
      .values({ order_id: orderId, sku: 'FILTER-10', quantity: 1, state: 'reserved' })
      .execute();
    const state = {
      status: 'AWAITING_PAYMENT',
      orderId,
      customerId: 'c',
      currency: 'EUR',
      totalMinor: 350,
      items: [{ sku: 'FILTER-10', quantity: 1 }],
      correlationId,
      paymentId: `pay_${orderId}`,
    };
    await database.db
      .insertInto('sagas')
      .values({
        id: orderId,
        type: 'order',
        status: 'AWAITING_PAYMENT',
        version: 2,
        state: JSON.stringify(state),
        deadline_at: new Date(Date.now() - 1000),
        correlation_id: correlationId,
      })
      .execute();

    expect((await tick()).status).toBe(204);
    const order = await database.db
      .selectFrom('orders')
      .select(['status', 'cancel_reason'])
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(order).toEqual({ status: 'CANCELLED', cancel_reason: 'payment_timeout' });
    const voids = await pullMessages(pubsub, 'payment-handler', { count: 1 });
    expect(voids[0]?.attributes).toMatchObject({
      event_type: 'RefundRequested',
      correlation_id: correlationId,
    });
    const reservation = await database.db
      .selectFrom('stock_reservations')
      .select('state')
      .where('order_id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(reservation.state).toBe('released');
  });

  it('forgets expired Idempotency-Keys', async () => {
    await database.db
      .insertInto('idempotency_keys')
      .values({
        scope: 's',
        key: 'old',
        fingerprint: 'f',
        status: 'in_flight',
        lock_token: randomUUID(),
        locked_until: new Date(0),
        expires_at: new Date(Date.now() - 1000),
      })
      .execute();
    expect((await tick()).status).toBe(204);
    expect(
      await database.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('key', '=', 'old')
        .execute(),
    ).toEqual([]);
  });

  it('deletes what is past its retention window (claims 30 days, sent rows 7, saga history 90) and keeps the rest', async () => {
    // Ages set back by the database's clock.
    const run = (text: string, values: unknown[]) => queryOnce(database.url, text, values);
    const [oldClaim, newClaim] = [randomUUID(), randomUUID()];
    await run(
      `insert into processed_events (consumer, event_id, processed_at)
       values ('process-order', $1, now() - interval '31 days'),
         ('process-order', $2, now() - interval '29 days')`,
      [oldClaim, newClaim],
    );

    const confirmed = () =>
      createEvent(
        'OrderConfirmed',
        { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
        { source: 'process-order', correlationId: randomUUID() },
      );
    const [oldSent, newSent] = [confirmed(), confirmed()];
    await insertOutboxRows(database.db, [oldSent, newSent]);
    await run(
      `update outbox set sent_at = now() - make_interval(days => case id when $1 then 8 else 6 end)
       where id in ($1, $2)`,
      [oldSent.id, newSent.id],
    );

    const [oldSaga, newSaga] = [randomUUID(), randomUUID()];
    for (const [id, days] of [
      [oldSaga, 91],
      [newSaga, 89],
    ] as const) {
      await run(
        `insert into sagas (id, type, status, version, state, correlation_id, updated_at)
         values ($1, 'order', 'CONFIRMED', 1, '{}', gen_random_uuid(), now() - make_interval(days => $2))`,
        [id, days],
      );
      await run(
        `insert into saga_transitions (saga_id, version, from_status, to_status, cause_type, at)
         values ($1, 1, null, 'CONFIRMED', 'Test', now() - make_interval(days => $2))`,
        [id, days],
      );
    }

    expect((await tick()).status).toBe(204);

    const claims = await database.db
      .selectFrom('processed_events')
      .select('event_id')
      .where('event_id', 'in', [oldClaim, newClaim])
      .execute();
    expect(claims).toEqual([{ event_id: newClaim }]);
    const rows = await database.db
      .selectFrom('outbox')
      .select('id')
      .where('id', 'in', [oldSent.id, newSent.id])
      .execute();
    expect(rows).toEqual([{ id: newSent.id }]);
    const history = await database.db
      .selectFrom('saga_transitions')
      .select('saga_id')
      .where('saga_id', 'in', [oldSaga, newSaga])
      .execute();
    expect(history).toEqual([{ saga_id: newSaga }]);
    const sagas = await database.db
      .selectFrom('sagas')
      .select('id')
      .where('id', 'in', [oldSaga, newSaga])
      .execute();
    expect(sagas).toHaveLength(2);
  });

  it('logs a gauge line for each gauge at LOG_LEVEL=warn, from what the tables hold', async () => {
    // A tick first, so that the next one finds nothing left to move (its gauge step runs
    // concurrently with its other steps).
    expect((await tick()).status).toBe(204);
    const before = await gaugesOfTick();
    expect(Object.keys(before).sort()).toEqual([
      'outbox_oldest_unsent_age_seconds',
      'outbox_set_aside',
      'outbox_unsent',
      'sagas_needing_attention',
      'sagas_overdue',
      'sagas_waiting:AWAITING_PAYMENT',
      'sagas_waiting:CANCELLED',
      'sagas_waiting:CONFIRMED',
      'sagas_waiting:NEEDS_ATTENTION',
      'sagas_waiting:RESERVING_STOCK',
    ]);
    for (const value of Object.values(before)) expect(Number.isInteger(value)).toBe(true);

    // What this tick leaves as it is: a row an hour old that a refusing route put off for
    // an hour, a row set aside, a parked saga, and a saga an hour past its deadline that
    // this deployment cannot wake (a newer one saved it).
    const hour = 3_600_000;
    const [deferred, setAside] = outboxRows('process-order', [orderConfirmed(), orderConfirmed()]);
    await database.db
      .insertInto('outbox')
      .values([
        {
          ...deferred!,
          created_at: new Date(Date.now() - hour),
          attempts: 1,
          last_error: 'refused',
          next_attempt_at: new Date(Date.now() + hour),
        },
        { ...setAside!, set_aside_at: new Date(), set_aside_reason: 'planted' },
      ])
      .execute();
    await insertSaga({ status: 'NEEDS_ATTENTION', deadlineAt: null });
    await insertSaga({
      status: 'AWAITING_PAYMENT',
      deadlineAt: new Date(Date.now() - hour),
      definitionVersion: 999,
    });

    const after = await gaugesOfTick();
    const grew = (name: string) => Number(after[name]) - Number(before[name]);
    expect(grew('outbox_unsent')).toBe(1);
    expect(after.outbox_oldest_unsent_age_seconds).toBeGreaterThanOrEqual(3600);
    expect(after.outbox_oldest_unsent_age_seconds).toBeLessThan(3700);
    expect(grew('outbox_set_aside')).toBe(1);
    expect(grew('sagas_needing_attention')).toBe(1);
    expect(grew('sagas_waiting:NEEDS_ATTENTION')).toBe(1);
    expect(grew('sagas_overdue')).toBe(1);
    expect(grew('sagas_waiting:AWAITING_PAYMENT')).toBe(1);
    expect(grew('sagas_waiting:CONFIRMED')).toBe(0);
  });

  it('writes gauge lines that the log-based metrics of infra/monitoring.tf count, with their value and labels', async () => {
    const infra = join(__dirname, '..', '..', '..', 'infra');
    const variables = JSON.parse(await readFile(join(infra, 'topology.auto.tfvars.json'), 'utf8'));
    const metrics = logMetrics(await loadTerraform(infra), variables);
    // As Cloud Logging keeps a line of the deployed function (its Cloud Run service is named
    // after the function, as the logger's `service` field is).
    const entries = (await gaugeLinesOfTick()).map((line) =>
      logEntryOf(line, {
        type: 'cloud_run_revision',
        labels: { service_name: String(line.service) },
      }),
    );
    expect(entries).toHaveLength(10);
    for (const entry of entries) {
      const counting = metrics.filter((metric) => matchesLogFilter(metric.filter, entry));
      expect(counting.map((metric) => metric.address)).toEqual([
        `google_logging_metric.gauge["${entry.jsonPayload.gauge}"]`,
      ]);
      const [metric] = counting;
      expect(extractField(metric!.valueExtractor!, entry)).toEqual(expect.any(Number));
      for (const extractor of Object.values(metric!.labelExtractors)) {
        expect(extractField(extractor, entry)).toEqual(expect.stringMatching(/^[A-Z_]+$/));
      }
    }
    // Every gauge metric counts a line of each tick: none goes silent.
    const gaugeMetrics = metrics.filter((metric) => metric.address.includes('.gauge['));
    expect(gaugeMetrics.length).toBeGreaterThan(0);
    for (const metric of gaugeMetrics) {
      expect(
        entries.filter((entry) => matchesLogFilter(metric.filter, entry)).length,
      ).toBeGreaterThan(0);
    }
  });

  it('logs the gauges at most once per GAUGE_INTERVAL_SECONDS in an instance', async () => {
    const lines: unknown[] = [];
    const log = createLogger({ level: 'info', write: (line) => lines.push(line) });
    const everyMinute = gaugeStep(database.db, { overdueGraceSeconds: 300, intervalSeconds: 50 });
    await everyMinute(log);
    expect(lines).toHaveLength(10);
    await everyMinute(log);
    expect(lines).toHaveLength(10);

    const everyTick = gaugeStep(database.db, { overdueGraceSeconds: 300, intervalSeconds: 0 });
    await everyTick(log);
    await everyTick(log);
    expect(lines).toHaveLength(30);
  });
});

function orderConfirmed() {
  return createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID() },
  );
}

/** A saga row as the order store saves it (only what the gauges read matters here). */
async function insertSaga({
  status,
  deadlineAt,
  definitionVersion = 2,
}: {
  status: string;
  deadlineAt: Date | null;
  definitionVersion?: number;
}) {
  const id = randomUUID();
  await database.db
    .insertInto('sagas')
    .values({
      id,
      type: 'order',
      status,
      version: 1,
      definition_version: definitionVersion,
      state: JSON.stringify({ status, orderId: id }),
      deadline_at: deadlineAt,
      correlation_id: randomUUID(),
    })
    .execute();
}
