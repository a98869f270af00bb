import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createDuckDbWarehouse } from '@orders/analytics';
import { type Database, seedProducts } from '@orders/db';
import { functions as declared, type FunctionName } from '@orders/deployment';
import {
  createEvent,
  type DomainEvent,
  type EncodedMessage,
  encodeEvent,
  routes,
} from '@orders/events';
import {
  createTopology,
  type DevIssuer,
  type FunctionProcess,
  isProcessAlive,
  type LocalStack,
  lineSink,
  pullMessages,
  startDevIssuer,
  startFunction,
  startLocalStack,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { migrateSandboxLedger, type SandboxLedgerTables } from '@orders/payments';
import { type Kysely, sql } from 'kysely';
import { checkInvariants } from './check-invariants';

/**
 * Crashes and outages lose nothing and duplicate nothing. Each function runs built, in its own
 * process (functions-framework, as Cloud Run runs it), so that a kill is a real SIGKILL; the
 * database is a real PostgreSQL database of its own per test, Pub/Sub the emulator.
 */
const repoRoot = join(__dirname, '..', '..', '..');

/** What each test started, stopped after it whatever happened. */
const cleanups: (() => Promise<unknown>)[] = [];
/** The issuer every place-order of these tests trusts (the stack's too: AUTH_* is set). */
let issuer: DevIssuer;
const authEnv = () => ({
  AUTH_ISSUER: issuer.issuer,
  AUTH_AUDIENCE: issuer.audience,
  AUTH_JWKS_URL: issuer.jwksUrl,
});

beforeAll(async () => {
  issuer = await startDevIssuer({ audience: 'crash-safety' });
});

afterAll(async () => {
  await issuer?.stop();
});
/** Every output line of the function processes of the running test. */
let output: string[] = [];

afterEach(async () => {
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => failures.push(error));
  }
  output = [];
  if (failures.length > 0) throw failures[0];
});

const sink = lineSink((line) => output.push(line));

interface Isolated {
  database: TestDatabase;
  projectId: string;
  emulatorHost: string;
  pubsub: PubSub;
}

/** A database, an emulator project with the declared topology (pull subscriptions only). */
async function isolated(label: string): Promise<Isolated> {
  const database = await testDatabase(label);
  cleanups.push(() => database.close());
  const projectId = testProjectId(label);
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  const pubsub = createPubSubClient({ projectId, emulatorHost });
  cleanups.push(() => pubsub.close());
  return { database, projectId, emulatorHost, pubsub };
}

/** Serves a built function in a process of its own, stopped after the test. */
async function start(
  name: FunctionName,
  where: Isolated,
  env: Record<string, string> = {},
): Promise<FunctionProcess> {
  const fn = await startFunction({
    name,
    dir: join(repoRoot, 'functions', name),
    entryPoint: declared[name].entryPoint,
    signatureType: declared[name].trigger.kind === 'http' ? 'http' : 'cloudevent',
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      DATABASE_URL: where.database.url,
      PUBSUB_EMULATOR_HOST: where.emulatorHost,
      GOOGLE_CLOUD_PROJECT: where.projectId,
      LOG_LEVEL: 'info',
      ...authEnv(),
      ...env,
    },
    stdout: sink,
    stderr: sink,
    linePrefix: `${name} | `,
  });
  cleanups.push(() => fn.stop());
  return fn;
}

/** The body a push subscription POSTs, on the path functions-framework converts. */
function pushTo(
  fn: FunctionProcess,
  projectId: string,
  topic: string,
  message: Pick<EncodedMessage, 'data' | 'attributes'>,
  messageId: string = randomUUID(),
) {
  return fetch(`${fn.url}/projects/${projectId}/topics/${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: {
        data: message.data.toString('base64'),
        attributes: message.attributes,
        messageId,
        publishTime: new Date().toISOString(),
      },
      subscription: `projects/${projectId}/subscriptions/${topic}`,
    }),
  });
}

/** A Cloud Scheduler tick to housekeeping: relays the outbox rows left unsent. */
async function tick(housekeeping: FunctionProcess, projectId: string) {
  const response = await pushTo(housekeeping, projectId, 'housekeeping', {
    data: Buffer.from('{"job":"housekeeping"}'),
    attributes: {},
  });
  expect(response.status).toBe(204);
}

/** `POST /orders` as the customer the body names. */
async function postOrder(
  url: string,
  body: { customerId: string; [field: string]: unknown },
  key?: string,
) {
  return fetch(`${url}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await issuer.token(body.customerId)}`,
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(body),
  });
}

const waitFor = waiterShowing(output, 50);

const faultLine = 'fault injected: crash between commit and publish';

function logged(message: string) {
  return output
    .map((line) => line.slice(line.indexOf('| ') + 2))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.message === message);
}

function ordersOf(db: Kysely<Database>, customerId: string) {
  return db
    .selectFrom('orders')
    .select(['id', 'status'])
    .where('customer_id', '=', customerId)
    .execute();
}

function outboxOf(db: Kysely<Database>, orderId: string) {
  return db
    .selectFrom('outbox')
    .select(['id', 'sent_at', sql<string>`event->>'type'`.as('type')])
    .where(sql<string>`event->>'subject'`, '=', orderId)
    .orderBy('created_at')
    .execute();
}

describe('crash safety', () => {
  it('kill between commit and publish, at intake: the relay publishes the order later, once', async () => {
    const where = await isolated('crash-intake');
    const [crashing, housekeeping] = await Promise.all([
      start('place-order', where, { FAULT_CRASH_BEFORE_PUBLISH_RATE: '1' }),
      start('housekeeping', where, { OUTBOX_RELAY_MIN_AGE_MS: '0' }),
    ]);
    const order = {
      customerId: 'cust-crash-intake',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 2 }],
    };
    const key = `crash-intake-${randomUUID()}`;

    // 1. The process dies after its commit: the client sees the connection drop.
    await expect(postOrder(crashing.url, order, key)).rejects.toThrow('fetch failed');
    expect(await crashing.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(logged(faultLine)).toEqual([
      expect.objectContaining({ fault: 'crash-before-publish', service: 'place-order' }),
    ]);

    // 2. What it committed: the order and its OrderPlaced, never published.
    const [placed, ...others] = await ordersOf(where.database.db, order.customerId);
    expect(others).toEqual([]);
    expect(placed).toMatchObject({ status: 'PLACED' });
    const orderId = placed!.id;
    expect(await outboxOf(where.database.db, orderId)).toEqual([
      expect.objectContaining({ type: 'OrderPlaced', sent_at: null }),
    ]);

    // 3. The client retries with its key, on a new instance: the stored answer, no new order.
    const restarted = await start('place-order', where);
    const retry = await postOrder(restarted.url, order, key);
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toMatchObject({ orderId, status: 'PLACED' });
    expect(await ordersOf(where.database.db, order.customerId)).toHaveLength(1);
    expect(await pullMessages(where.pubsub, 'process-order', { count: 1, timeoutMs: 500 })).toEqual(
      [],
    );

    // 4. The relay publishes the row, once; a second tick finds nothing to send.
    await tick(housekeeping, where.projectId);
    const delivered = await pullMessages(where.pubsub, 'process-order', {
      count: 2,
      timeoutMs: 1_500,
    });
    expect(delivered.map((message) => message.attributes)).toEqual([
      expect.objectContaining({ event_type: 'OrderPlaced' }),
    ]);
    expect(JSON.parse(delivered[0]!.data.toString())).toMatchObject({ subject: orderId });
    expect(await outboxOf(where.database.db, orderId)).toEqual([
      expect.objectContaining({ type: 'OrderPlaced', sent_at: expect.any(Date) }),
    ]);
    await tick(housekeeping, where.projectId);
    expect(
      await pullMessages(where.pubsub, 'process-order', { count: 1, timeoutMs: 1_000 }),
    ).toEqual([]);
  });

  it('kill between commit and publish, in a consumer', async () => {
    const where = await isolated('crash-consumer');
    const placed = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-crash-consumer',
        currency: 'EUR',
        items: [{ sku: 'POT-001', quantity: 1, unitPriceMinor: 4500 }],
        totalMinor: 4500,
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
    const { orderId } = placed.data;
    // Intake wrote the order and published its OrderPlaced.
    await insertPlacedOrder(where.database.db, placed);
    await where.database.db
      .updateTable('outbox')
      .set({ sent_at: new Date() })
      .where('id', '=', placed.id)
      .execute();
    const message = encodeEvent(placed);
    const messageId = randomUUID();

    // 1. The consumer commits the reservation and PaymentRequested, then dies.
    const [crashing, housekeeping] = await Promise.all([
      start('process-order', where, { FAULT_CRASH_BEFORE_PUBLISH_RATE: '1' }),
      start('housekeeping', where, { OUTBOX_RELAY_MIN_AGE_MS: '0' }),
    ]);
    await expect(
      pushTo(crashing, where.projectId, 'order-saga', message, messageId),
    ).rejects.toThrow('fetch failed');
    expect(await crashing.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(logged(faultLine)).toEqual([
      expect.objectContaining({
        fault: 'crash-before-publish',
        correlationId: placed.correlationId,
      }),
    ]);
    const committed = async () => ({
      reservations: await where.database.db
        .selectFrom('stock_reservations')
        .select(['sku', 'quantity', 'state'])
        .where('order_id', '=', orderId)
        .execute(),
      saga: await where.database.db
        .selectFrom('sagas')
        .select(['status', 'version'])
        .where('id', '=', orderId)
        .executeTakeFirst(),
      outbox: await outboxOf(where.database.db, orderId),
    });
    const afterCrash = await committed();
    expect(afterCrash).toEqual({
      reservations: [{ sku: 'POT-001', quantity: 1, state: 'reserved' }],
      saga: { status: 'AWAITING_PAYMENT', version: expect.any(Number) },
      outbox: [
        expect.objectContaining({ type: 'OrderPlaced', sent_at: expect.any(Date) }),
        expect.objectContaining({ type: 'PaymentRequested', sent_at: null }),
      ],
    });

    // 2. Pub/Sub redelivers the unacked message to a new instance: a duplicate, acked.
    const restarted = await start('process-order', where);
    const again = await pushTo(restarted, where.projectId, 'order-saga', message, messageId);
    expect(again.status).toBe(204);
    expect(logged('duplicate delivery ignored')).toEqual([
      expect.objectContaining({ eventId: placed.id, correlationId: placed.correlationId }),
    ]);
    expect(await committed()).toEqual(afterCrash);
    expect(
      await pullMessages(where.pubsub, 'payment-handler', { count: 1, timeoutMs: 500 }),
    ).toEqual([]);

    // 3. The relay publishes PaymentRequested, once.
    await tick(housekeeping, where.projectId);
    await tick(housekeeping, where.projectId);
    const requests = await pullMessages(where.pubsub, 'payment-handler', {
      count: 2,
      timeoutMs: 1_500,
    });
    expect(requests.map((request) => request.attributes)).toEqual([
      expect.objectContaining({
        event_type: 'PaymentRequested',
        correlation_id: placed.correlationId,
      }),
    ]);
    expect((await outboxOf(where.database.db, orderId)).map((row) => row.sent_at)).toEqual([
      expect.any(Date),
      expect.any(Date),
    ]);
  });

  it('kill while an Idempotency-Key request is in flight: a retry after the lock expires completes, with no duplicate order', async () => {
    const where = await isolated('crash-in-flight');
    const env = { IDEMPOTENCY_LOCK_SECONDS: '2' };
    // The instance that dies, and another one, up before the request: Cloud Run scales out
    // (and the retry must come within the 2 s lock, whatever a process start costs).
    const [doomed, restarted] = await Promise.all([
      start('place-order', where, env),
      start('place-order', where, env),
    ]);
    const order = {
      customerId: 'cust-in-flight',
      currency: 'EUR',
      items: [{ sku: 'MUG-001', quantity: 1 }],
    };
    const key = `in-flight-${randomUUID()}`;

    // 1. Another session holds the catalog: the request's claim, which reads the prices in
    // the same statement, waits for it. (A statement that has started completes even if its
    // process dies: PostgreSQL finishes a statement whose client is gone, and the statement
    // commits by itself. So the claim lands once the catalog is free, with no request left
    // to write the order: the claim is what is left in flight when a request dies before its
    // write.)
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = where.database.db.transaction().execute(async (trx) => {
      await sql`lock table products in access exclusive mode`.execute(trx);
      locked();
      await released;
    });
    cleanups.push(async () => {
      release();
      await holder;
    });
    await isLocked;
    const request = postOrder(doomed.url, order, key);
    request.catch(() => {});
    let waiting: number | undefined;
    await waitFor(
      'the request to wait for the catalog',
      async () => {
        // (Not by its text: pg_stat_activity keeps the first 1,024 bytes of a statement.)
        const { rows } = await sql<{ pid: number }>`
          select pid from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(
          where.database.db,
        );
        waiting = rows[0]?.pid;
        return waiting !== undefined;
      },
      10_000,
    );

    // 2. The instance dies with its request; the lock is released after, and the dead
    //    request's claim lands.
    process.kill(doomed.pid!, 'SIGKILL');
    expect(await doomed.exited).toMatchObject({ signal: 'SIGKILL' });
    await expect(request).rejects.toThrow('fetch failed');
    release();
    await holder;
    let claim: { status: string; locked_until: Date | null } | undefined;
    await waitFor(
      "the dead request's claim to land",
      async () => {
        claim = await where.database.db
          .selectFrom('idempotency_keys')
          .select(['status', 'locked_until'])
          .where('key', '=', key)
          .executeTakeFirst();
        return claim !== undefined;
      },
      10_000,
    );
    expect(claim!.status).toBe('in_flight');

    // 3. While the dead request's lock lasts, a retry is told to come back later.
    const sentAt = Date.now();
    const early = await postOrder(restarted.url, order, key);
    expect(sentAt).toBeLessThan(claim!.locked_until!.getTime());
    expect(early.status).toBe(409);
    expect(early.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(early.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(await early.json()).toMatchObject({ status: 409, code: 'idempotency_key_in_flight' });

    // The dead request's session ends without committing its insert.
    await waitFor(
      'the dead request to leave PostgreSQL',
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity where pid = ${waiting}`.execute(
          where.database.db,
        );
        return rows[0]!.n === 0;
      },
      10_000,
    );
    expect(await ordersOf(where.database.db, order.customerId)).toEqual([]);

    // 4. Once it expires, the retry takes the key over and places the order, once. The wait
    //    is the behaviour under test: the lock expires with time alone, nothing signals it,
    //    and a retry sent earlier would be told to come back (step 3) rather than show it.
    await sleep(Math.max(0, claim!.locked_until!.getTime() - Date.now()) + 100);
    const completed = await postOrder(restarted.url, order, key);
    expect(completed.status).toBe(202);
    const completedBody = await completed.text();
    const [placed, ...others] = await ordersOf(where.database.db, order.customerId);
    expect(others).toEqual([]);
    expect(JSON.parse(completedBody)).toMatchObject({ orderId: placed!.id, status: 'PLACED' });

    const replay = await postOrder(restarted.url, order, key);
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(completedBody);
    expect(await ordersOf(where.database.db, order.customerId)).toHaveLength(1);
  });

  it('a database outage during intake: 503, nothing written, and it recovers', async () => {
    const where = await isolated('db-outage');
    const direct = new URL(where.database.url);
    const proxy: TcpProxy = await startTcpProxy({
      host: direct.hostname,
      port: Number(direct.port),
    });
    cleanups.push(() => proxy.close());
    const proxied = new URL(where.database.url);
    proxied.host = proxy.host;
    const intake = await start('place-order', where, { DATABASE_URL: proxied.toString() });
    // Pooled connections exist before the outage: the cut drops them.
    expect((await fetch(`${intake.url}/products`)).status).toBe(200);

    const order = {
      customerId: 'cust-db-outage',
      currency: 'EUR',
      items: [{ sku: 'FILTER-10', quantity: 1 }],
    };
    const key = `db-outage-${randomUUID()}`;
    await proxy.cut();
    const started = Date.now();
    const refused = await postOrder(intake.url, order, key);
    const took = Date.now() - started;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ status: 503, code: 'unavailable' });
    expect(took).toBeLessThan(6_000);
    expect(isProcessAlive(intake.pid!)).toBe(true);

    const written = async () => ({
      orders: await ordersOf(where.database.db, order.customerId),
      outbox: await where.database.db
        .selectFrom('outbox')
        .select('id')
        .where(sql<string>`event->'data'->>'customerId'`, '=', order.customerId)
        .execute(),
      keys: await where.database.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('key', '=', key)
        .execute(),
    });
    expect(await written()).toEqual({ orders: [], outbox: [], keys: [] });

    await proxy.restore();
    const accepted = await postOrder(intake.url, order, key);
    expect(accepted.status).toBe(202);
    const { orderId } = (await accepted.json()) as { orderId: string };
    expect(await written()).toEqual({
      orders: [{ id: orderId, status: 'PLACED' }],
      outbox: [expect.anything()],
      keys: [{ key }],
    });
  });

  it('a DLQ replay after a fix yields the same end state as a clean run', async () => {
    const database = await testDatabase('dlq-replay');
    cleanups.push(() => database.close());
    await migrateSandboxLedger(database.db);
    const warehouseDir = await mkdtemp(join(tmpdir(), 'crash-safety-warehouse-'));
    cleanups.push(() => rm(warehouseDir, { recursive: true, force: true }));
    const warehousePath = join(warehouseDir, 'warehouse.duckdb');
    const stack: LocalStack = await startLocalStack({
      projectId: testProjectId('dlq-replay'),
      functions: [
        'place-order',
        'process-order',
        'payment-handler',
        'analytics-loader',
        'housekeeping',
      ],
      env: {
        ...process.env,
        ...authEnv(),
        DATABASE_URL: database.url,
        LOG_LEVEL: 'warn',
        DUCKDB_PATH: warehousePath,
        SANDBOX_LATENCY_MS: '5',
        OUTBOX_RELAY_MIN_AGE_MS: '1000',
      },
      housekeepingIntervalMs: 1_000,
      functionStdout: sink,
      functionStderr: sink,
    });
    cleanups.push(() => stack.stop());
    const pubsub = createPubSubClient({
      projectId: stack.projectId,
      emulatorHost: stack.pubsubEmulatorHost,
    });
    cleanups.push(() => pubsub.close());
    const items = [
      { sku: 'TEA-002', quantity: 2 },
      { sku: 'MUG-001', quantity: 1 },
    ];

    // 1. Order A, the clean run.
    const response = await postOrder(stack.functions['place-order']!, {
      customerId: 'cust-clean',
      currency: 'EUR',
      items,
    });
    expect(response.status).toBe(202);
    const a = ((await response.json()) as { orderId: string }).orderId;

    // 2. Order B, the same order, whose producer published its OrderPlaced broken (a
    //    lower-case currency) to every topic it routes to, and marked it sent.
    const prices = await database.db
      .selectFrom('order_items')
      .select(['sku', 'quantity', 'unit_price_minor'])
      .where('order_id', '=', a)
      .execute();
    const good: DomainEvent<'OrderPlaced'> = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-replayed',
        currency: 'EUR',
        items: items.map((item) => ({
          ...item,
          unitPriceMinor: prices.find((row) => row.sku === item.sku)!.unit_price_minor,
        })),
        totalMinor: prices.reduce((sum, row) => sum + row.quantity * row.unit_price_minor, 0),
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
    const b = good.data.orderId;
    await database.db.transaction().execute(async (trx) => {
      await insertPlacedOrder(trx, good);
      await trx
        .updateTable('outbox')
        .set({ sent_at: new Date() })
        .where('id', '=', good.id)
        .execute();
    });
    const broken = { ...good, data: { ...good.data, currency: 'eur' } };
    for (const topic of routes.OrderPlaced) {
      await pubsub.topic(topic).publishMessage({
        data: Buffer.from(JSON.stringify(broken)),
        attributes: encodeEvent(good).attributes,
      });
    }

    // 3. Both consumers dead-letter it; the fixed event is replayed from each DLQ.
    const dlq = (...args: string[]) => runDlq(stack, warehouseDir, args);
    const letters = new Map<string, { id: string; reason: string }>();
    await waitFor(
      'the broken OrderPlaced on every DLQ',
      async () => {
        const listed = JSON.parse((await dlq('list', '--json')).stdout) as {
          id: string;
          topic: string;
          reason: string;
          eventId: string;
        }[];
        for (const letter of listed) {
          if (letter.eventId === good.id) letters.set(letter.topic, letter);
        }
        return letters.size === routes.OrderPlaced.length;
      },
      20_000,
    );
    expect(letters.get('order-saga')!.reason).toMatch(/data\.currency: must be an ISO 4217/);
    expect(
      await database.db.selectFrom('orders').select('status').where('id', '=', b).execute(),
    ).toEqual([{ status: 'PLACED' }]);
    const fixed = join(warehouseDir, 'fixed-order-placed.json');
    await writeFile(fixed, JSON.stringify(good));
    for (const [topic, letter] of letters) {
      expect(await dlq('replay', letter.id, '--data', fixed, '--topic', topic)).toMatchObject({
        code: 0,
        stdout: expect.stringContaining('replayed 1 of 1'),
      });
    }

    // 4. Quiet: both orders final, the outbox drained, every event in the warehouse.
    const warehouseEvents = async (orderIds: string[]) => {
      const warehouse = createDuckDbWarehouse({ path: warehousePath });
      try {
        return await warehouse.auditEvents({ orderIds });
      } finally {
        await warehouse.close();
      }
    };
    await waitFor(
      'both orders to end, and their events to be published and loaded',
      async () => {
        const orders = await database.db
          .selectFrom('orders')
          .select('status')
          .where('id', 'in', [a, b])
          .execute();
        if (orders.some((order) => !['CONFIRMED', 'CANCELLED'].includes(order.status))) {
          return false;
        }
        const events = await database.db.selectFrom('outbox').select(['id', 'sent_at']).execute();
        if (events.some((event) => event.sent_at === null)) return false;
        const loaded = new Set((await warehouseEvents([a, b])).map((row) => row.eventId));
        return events.every((event) => loaded.has(event.id));
      },
      45_000,
    );

    const endState = async (orderId: string) => ({
      order: await database.db
        .selectFrom('orders')
        .select(['status', 'cancel_reason'])
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow(),
      saga: (
        await database.db
          .selectFrom('saga_transitions')
          .select('to_status')
          .where('saga_id', '=', orderId)
          .orderBy('version')
          .execute()
      ).map((row) => row.to_status),
      stock: await database.db
        .selectFrom('stock_reservations')
        .select(['sku', 'quantity', 'state'])
        .where('order_id', '=', orderId)
        .orderBy('sku')
        .execute(),
      money: await database.db
        .withTables<SandboxLedgerTables>()
        .selectFrom('sandbox_provider_operations')
        .select(['kind', 'amount_minor', 'currency'])
        .where('order_id', '=', orderId)
        .where('outcome', '=', 'succeeded')
        .orderBy('kind')
        .orderBy('created_at')
        .execute(),
      outbox: (await outboxOf(database.db, orderId)).map((row) => row.type),
      warehouse: (await warehouseEvents([orderId])).map((row) => row.eventType).sort(),
    });
    const clean = await endState(a);
    expect(clean).toMatchObject({
      order: { status: 'CONFIRMED', cancel_reason: null },
      money: [{ kind: 'charge' }],
      outbox: ['OrderPlaced', 'PaymentRequested', 'PaymentSucceeded', 'OrderConfirmed'],
    });
    expect(await endState(b)).toEqual(clean);

    const left = JSON.parse((await dlq('list', '--json')).stdout) as { eventId: string }[];
    expect(left).toEqual([]);
    const warehouse = new Map(
      (await warehouseEvents([a, b])).map((row) => [
        row.eventId,
        { rows: row.rawRows, deduplicated: row.viewRows },
      ]),
    );
    expect(
      await checkInvariants({
        db: database.db,
        initialStock: Object.fromEntries(
          seedProducts.map((product) => [product.sku, product.stock]),
        ),
        warehouse,
      }),
    ).toEqual([]);
  }, 90_000);
});

/** The built `pnpm dlq`, pointed at the stack. */
function runDlq(
  stack: LocalStack,
  dir: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = join(repoRoot, 'packages', 'cli', 'dist', 'dlq.js');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      {
        env: {
          PATH: process.env.PATH,
          PUBSUB_EMULATOR_HOST: stack.pubsubEmulatorHost,
          GOOGLE_CLOUD_PROJECT: stack.projectId,
          DEV_STACK_FILE: join(dir, 'no-dev-stack.json'),
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
