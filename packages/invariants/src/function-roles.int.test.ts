import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createDb,
  type Database,
  type DatabaseFunction,
  functionDatabaseUser,
  functionRoles,
  grantFunctionRoles,
} from '@orders/db';
import { functionEnvironment, functions, parseDeployConfig } from '@orders/deployment';
import { createEvent, type DomainEvent, type Envelope } from '@orders/events';
import {
  createTopology,
  queryOnce,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createOutbox, createPublisher, createPubSubBus, type Outbox } from '@orders/messaging';
import { insertOutboxRows } from '@orders/messaging/testing';
import {
  createIntakeApi,
  createOrderSagaEngine,
  createPostgresIntakeStore,
  IdempotencyKeyReusedError,
  type OrderSagaEngineOptions,
  placeOrder,
  purgeExpiredKeys,
  redriveStalledOrders,
} from '@orders/ordering';
import { createPostgresPaymentStore } from '@orders/payments';
import { createLogger } from '@orders/platform';
import { type Kysely, sql } from 'kysely';

/**
 * Each function's database role (migration 0012-function-roles), through the IAM database
 * user `pnpm migrate --project` makes a member of it: here a login user of that very name per
 * function, on the test harness's PostgreSQL. As each one, the real stores do the function's
 * job, and everything else it might try is refused with 42501 (insufficient privilege).
 */

// The Pub/Sub project doubles as the Google Cloud project the IAM users are named after.
const project = testProjectId('roles');
const log = createLogger({ level: 'error' });
const names = Object.keys(functionRoles) as DatabaseFunction[];
let database: TestDatabase;
let admin: Kysely<Database>;
const as = {} as Record<DatabaseFunction, Kysely<Database>>;
const outboxOf = {} as Record<DatabaseFunction, Outbox>;

beforeAll(async () => {
  database = await testDatabase('function-roles');
  admin = database.db;
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId: project, pushEndpoints: {} });
  const bus = createPubSubBus(createPublisher({ projectId: project, emulatorHost }));
  for (const name of names) {
    // What Terraform does on Cloud SQL: the IAM database user, with no privilege of its own.
    const user = functionDatabaseUser(name, project);
    const password = randomBytes(16).toString('hex');
    await sql`create role ${sql.id(user)} login password ${sql.lit(password)}`.execute(admin);
    const url = new URL(database.url);
    url.username = user;
    url.password = password;
    as[name] = createDb(url.toString(), { maxConnections: 2 });
    outboxOf[name] = createOutbox(as[name], bus, (error) => {
      throw error;
    });
  }
  const grants = await grantFunctionRoles(admin, { project });
  expect(grants.map(({ function: name, outcome }) => `${name} ${outcome}`)).toEqual(
    names.map((name) => `${name} granted`),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(names.map((name) => as[name]?.destroy()));
  await database?.close();
  for (const name of names) {
    const user = functionDatabaseUser(name, project);
    await queryOnce(process.env.DATABASE_URL!, `drop role if exists "${user}"`);
  }
});

const sagaOptions: OrderSagaEngineOptions = {
  paymentTimeoutMs: 60_000,
  refundTimeoutMs: 30_000,
  maxRefundRequests: 2,
  maxCompensationAttempts: 3,
};

/** Places an order as place-order does (its store and its outbox); returns its OrderPlaced. */
async function placeAnOrder(items = [{ sku: 'TEA-001', quantity: 2 }], idempotencyKey?: string) {
  const placed = await placeOrder(
    {
      store: createPostgresIntakeStore(as['place-order'], { ttlSeconds: 60, lockSeconds: 10 }),
      outbox: outboxOf['place-order'],
      source: 'place-order',
      maxOpenOrders: 1000,
      openOrdersRetryAfterSeconds: 60,
    },
    {
      request: { customerId: 'cust-roles', currency: 'EUR', items },
      correlationId: randomUUID(),
      idempotencyKey,
      log,
    },
  );
  const { orderId } = JSON.parse(placed.body) as { orderId: string };
  const { rows } = await sql<{ event: DomainEvent<'OrderPlaced'> }>`
    select event from outbox where event->>'subject' = ${orderId}`.execute(admin);
  return { response: placed, event: rows[0]!.event };
}

/** Delivers an event to the saga as process-order does, and publishes what it emitted. */
async function deliverToSaga(event: DomainEvent, engine = sagaEngine('process-order')) {
  const applied = await engine.apply(event.subject, event as never, {
    log,
    causationId: event.id,
    correlationId: event.correlationId,
  });
  if (applied === 'duplicate' || !applied) return applied;
  expect(await outboxOf['process-order'].publishCommitted(applied.emitted)).toBe(true);
  return applied;
}

function sagaEngine(name: 'process-order' | 'housekeeping', options = sagaOptions) {
  return createOrderSagaEngine(as[name], options);
}

/** Handles a PaymentRequested as payment-handler does, with the provider's answer given. */
async function handlePayment(requested: DomainEvent<'PaymentRequested'>, charged: boolean) {
  const { orderId, paymentId, customerId, amountMinor, currency } = requested.data;
  const origin = { source: 'payment-handler', correlationId: requested.correlationId };
  const outcome = charged
    ? createEvent(
        'PaymentSucceeded',
        { orderId, paymentId, providerRef: `ch_${orderId}`, amountMinor, currency },
        origin,
      )
    : createEvent('PaymentFailed', { orderId, paymentId, reason: 'declined' }, origin);
  const store = createPostgresPaymentStore(as['payment-handler'], { consumer: 'payment-handler' });
  const emitted = await store.transact(requested.id, paymentId, (unit) =>
    unit.commit(
      {
        payment_id: paymentId,
        order_id: orderId,
        customer_id: customerId,
        amount_minor: amountMinor,
        currency,
        status: charged ? 'charged' : 'declined',
        provider_ref: charged ? `ch_${orderId}` : null,
        failure_reason: charged ? null : 'declined',
      },
      [outcome],
    ),
  );
  if (emitted === 'duplicate') return emitted;
  expect(await outboxOf['payment-handler'].publishCommitted(emitted)).toBe(true);
  return outcome;
}

async function orderStatus(orderId: string) {
  const row = await admin
    .selectFrom('orders')
    .select('status')
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  return row.status;
}

async function reservations(orderId: string) {
  const rows = await admin
    .selectFrom('stock_reservations')
    .select('state')
    .where('order_id', '=', orderId)
    .execute();
  return rows.map((row) => row.state);
}

async function unsentRows(ids: string[]) {
  const { rows } = await sql<{ id: string }>`
    select id from outbox where id = any(${ids}::uuid[]) and sent_at is null`.execute(admin);
  return rows.map((row) => row.id);
}

/** The event of `type` that a saga move emitted. */
function emittedOf<T extends DomainEvent['type']>(applied: unknown, type: T): DomainEvent<T> {
  const { emitted } = applied as { emitted: readonly Envelope[] };
  return emitted.find((event) => event.type === type) as DomainEvent<T>;
}

describe('the function roles do their jobs', () => {
  it('maps each function that uses the database to its role, as the deploy names its user', () => {
    const config = parseDeployConfig({
      DEPLOY_PROJECT: project,
      DEPLOY_REGION: 'europe-west1',
      CLOUD_SQL_INSTANCE: `${project}:europe-west1:orders`,
      DEPLOY_VPC_CONNECTOR: 'orders-functions',
      PAYMENT_PROVIDER: 'stripe',
      AUTH_ISSUER: `https://securetoken.google.com/${project}`,
      AUTH_AUDIENCE: project,
      AUTH_JWKS_URL: 'https://issuer.example/jwks.json',
    });
    const deployedUsers = Object.keys(functions).flatMap((name) => {
      const user = functionEnvironment(name as keyof typeof functions, config).DB_USER;
      return user ? [[name, user]] : [];
    });
    expect(Object.fromEntries(deployedUsers)).toEqual(
      Object.fromEntries(names.map((name) => [name, functionDatabaseUser(name, project)])),
    );
  });

  it('place-order: places an order with its key, replays it, refuses its reuse, shows it', async () => {
    const key = `key-${randomUUID()}`;
    const first = await placeAnOrder(undefined, key);
    expect(first.response.status).toBe(202);
    // Published after commit, and marked sent by place-order itself.
    expect(await unsentRows([first.event.id])).toEqual([]);
    const replay = await placeAnOrder(undefined, key);
    expect(replay.response).toMatchObject({ replayed: true, body: first.response.body });
    await expect(placeAnOrder([{ sku: 'MUG-001', quantity: 1 }], key)).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    // A key released after a failure (an unknown sku) is free again.
    const unknown = `key-${randomUUID()}`;
    await expect(placeAnOrder([{ sku: 'NOPE-1', quantity: 1 }], unknown)).rejects.toThrow();
    expect(await admin.selectFrom('idempotency_keys').where('key', '=', unknown).execute()).toEqual(
      [],
    );

    // GET /orders/{id} and GET /products, through the intake API as served.
    const api = createIntakeApi({
      db: as['place-order'],
      store: createPostgresIntakeStore(as['place-order'], { ttlSeconds: 60, lockSeconds: 10 }),
      outbox: outboxOf['place-order'],
      source: 'place-order',
      // The caller is the order's customer (token verification is not the database's part).
      authenticate: async () => ({ subject: 'cust-roles' }),
      maxItems: 50,
      maxQuantity: 100,
      maxOpenOrders: 1000,
      openOrdersRetryAfterSeconds: 60,
    });
    const get = (path: string) =>
      api({ method: 'GET', path, get: () => undefined } as unknown as Parameters<typeof api>[0], {
        log,
        correlationId: randomUUID(),
      });
    expect(await get(`/orders/${first.event.data.orderId}`)).toMatchObject({
      status: 200,
      body: { status: 'PLACED', totalMinor: first.event.data.totalMinor },
    });
    expect(await get('/products')).toMatchObject({ status: 200, body: expect.any(Array) });
  });

  it('process-order and payment-handler: an order is reserved, charged and confirmed; another declined and cancelled', async () => {
    const paid = (await placeAnOrder([{ sku: 'MUG-001', quantity: 1 }])).event;
    const reserved = await deliverToSaga(paid);
    expect(reserved).toMatchObject({ status: 'AWAITING_PAYMENT' });
    // The inbox: the same event again is a duplicate.
    expect(await deliverToSaga(paid)).toBe('duplicate');
    const requested = emittedOf(reserved, 'PaymentRequested');
    const succeeded = await handlePayment(requested, true);
    expect(await handlePayment(requested, true)).toBe('duplicate');
    expect(await deliverToSaga(succeeded as DomainEvent)).toMatchObject({ status: 'CONFIRMED' });
    expect(await orderStatus(paid.data.orderId)).toBe('CONFIRMED');
    expect(await reservations(paid.data.orderId)).toEqual(['sold']);

    const declined = (await placeAnOrder([{ sku: 'KETTLE-01', quantity: 1 }])).event;
    const waiting = await deliverToSaga(declined);
    const declinedRequest = emittedOf(waiting, 'PaymentRequested');
    const failed = await handlePayment(declinedRequest, false);
    expect(await deliverToSaga(failed as DomainEvent)).toMatchObject({ status: 'CANCELLED' });
    expect(await reservations(declined.data.orderId)).toEqual(['released']);
    const payments = await admin
      .selectFrom('payments')
      .select(['order_id', 'status'])
      .where('order_id', 'in', [paid.data.orderId, declined.data.orderId])
      .orderBy('status')
      .execute();
    expect(payments).toEqual([
      { order_id: paid.data.orderId, status: 'charged' },
      { order_id: declined.data.orderId, status: 'declined' },
    ]);
  });

  it('housekeeping: wakes a saga past its deadline, purges keys, re-drives a stalled order and relays the outbox', async () => {
    // A saga whose payment deadline passes at once.
    const late = (await placeAnOrder([{ sku: 'POT-001', quantity: 1 }])).event;
    await deliverToSaga(late, sagaEngine('process-order', { ...sagaOptions, paymentTimeoutMs: 1 }));
    await sql`select pg_sleep(0.01)`.execute(admin);
    const woken = await sagaEngine('housekeeping').wakeDue({
      log,
      committed: (events) => outboxOf.housekeeping.publishCommitted(events),
    });
    expect(woken).toEqual({ woken: 1, failed: 0 });
    expect(await orderStatus(late.data.orderId)).toBe('CANCELLED');
    expect(await reservations(late.data.orderId)).toEqual(['released']);

    await sql`
      insert into idempotency_keys (scope, key, fingerprint, status, response, expires_at)
      values ('POST /orders', ${randomUUID()}, 'f', 'completed', '{}', now() - interval '1 second')`.execute(
      admin,
    );
    expect(await purgeExpiredKeys(as.housekeeping)).toBeGreaterThanOrEqual(1);

    // An order whose OrderPlaced never reached the saga, placed an hour ago.
    const stalled = (await placeAnOrder([{ sku: 'TEA-002', quantity: 1 }])).event;
    await sql`update orders set created_at = now() - interval '1 hour' where id = ${stalled.data.orderId}::uuid`.execute(
      admin,
    );
    const redriven = await redriveStalledOrders(as.housekeeping, {
      stalledSeconds: 60,
      maxRedrives: 3,
    });
    expect(redriven.redriven).toEqual([
      expect.objectContaining({ orderId: stalled.data.orderId, eventId: stalled.id, redrives: 1 }),
    ]);

    // A row a crash left unsent, and one that can never be published.
    const unsent = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    await insertOutboxRows(admin, [unsent]);
    const broken = randomUUID();
    await sql`insert into outbox (id, event) values (${broken}::uuid, '{"type": "Nonsense"}')`.execute(
      admin,
    );
    const report = await outboxOf.housekeeping.relay({ minAgeMs: 0 });
    expect(report).toMatchObject({ sent: 2, deferred: 0, failingRoutes: [] });
    expect(report.setAside.map((row) => row.id)).toEqual([broken]);
    expect(await unsentRows([unsent.id, stalled.id])).toEqual([]);
  });
});

/**
 * What each role must not do. Every statement would succeed (and change nothing: `where
 * false`) if the role held the privilege: the refusal is the grant's, not the data's.
 */
const noRow = 'where false';
const forbidden: Record<DatabaseFunction, Record<string, string>> = {
  'place-order': {
    'read the events in the outbox': 'select event from outbox',
    'write payments': `update payments set status = 'refunded' ${noRow}`,
    'record a payment': `insert into payments (payment_id, order_id, amount_minor, currency, status) select 'pay_x', gen_random_uuid(), 1, 'EUR', 'charged' ${noRow}`,
    'start a saga': `insert into sagas (id, type, status, version, state, correlation_id) select gen_random_uuid(), 'order', 'CONFIRMED', 1, '{}', gen_random_uuid() ${noRow}`,
    'move a saga': `update sagas set status = 'CONFIRMED' ${noRow}`,
    'read sagas': 'select id from sagas',
    "change an order's status": `update orders set status = 'CONFIRMED' ${noRow}`,
    'delete an order': `delete from orders ${noRow}`,
    'change a price': `update products set price_minor = 0 ${noRow}`,
    'take stock': `update products set stock = 0 ${noRow}`,
    'reserve stock': `insert into stock_reservations (order_id, sku, quantity, state) select gen_random_uuid(), 'TEA-001', 1, 'reserved' ${noRow}`,
    'claim an inbox event': `insert into processed_events (consumer, event_id) select 'process-order', gen_random_uuid() ${noRow}`,
    'set an outbox row aside': `update outbox set set_aside_at = now(), set_aside_reason = 'x' ${noRow}`,
  },
  'process-order': {
    'read the events in the outbox': 'select event from outbox',
    'read payments': 'select payment_id from payments',
    'write payments': `update payments set status = 'refunded' ${noRow}`,
    'place an order': `insert into orders (id, customer_id, currency, total_minor, status, correlation_id) select gen_random_uuid(), 'c', 'EUR', 0, 'PLACED', gen_random_uuid() ${noRow}`,
    "change an order's total": `update orders set total_minor = 0 ${noRow}`,
    'change a price': `update products set price_minor = 0 ${noRow}`,
    "read a key's stored response": 'select response from idempotency_keys',
    'delete keys': `delete from idempotency_keys ${noRow}`,
    'count a re-drive': `insert into order_redrives (order_id, attempts, last_redriven_at) select gen_random_uuid(), 1, now() ${noRow}`,
    'delete outbox rows': `delete from outbox ${noRow}`,
    'reset a relay backoff': `update outbox set attempts = 0 ${noRow}`,
  },
  'payment-handler': {
    'read the events in the outbox': 'select event from outbox',
    'read orders': 'select id from orders',
    "change an order's status": `update orders set status = 'CONFIRMED' ${noRow}`,
    'place an order': `insert into orders (id, customer_id, currency, total_minor, status, correlation_id) select gen_random_uuid(), 'c', 'EUR', 0, 'PLACED', gen_random_uuid() ${noRow}`,
    'read sagas': 'select id from sagas',
    'take stock': `update products set stock = 0 ${noRow}`,
    'move a payment to another order': `update payments set order_id = gen_random_uuid() ${noRow}`,
    'delete a payment': `delete from payments ${noRow}`,
    'read keys': 'select key from idempotency_keys',
  },
  housekeeping: {
    'start a saga': `insert into sagas (id, type, status, version, state, correlation_id) select gen_random_uuid(), 'order', 'CONFIRMED', 1, '{}', gen_random_uuid() ${noRow}`,
    "read a key's stored response": 'select response from idempotency_keys',
    'place an order': `insert into orders (id, customer_id, currency, total_minor, status, correlation_id) select gen_random_uuid(), 'c', 'EUR', 0, 'PLACED', gen_random_uuid() ${noRow}`,
    "change an order's total": `update orders set total_minor = 0 ${noRow}`,
    'change a price': `update products set price_minor = 0 ${noRow}`,
    'read payments': 'select payment_id from payments',
    'claim an inbox event': `insert into processed_events (consumer, event_id) select 'process-order', gen_random_uuid() ${noRow}`,
    // It deletes sent outbox rows only (0014-retention: row security; see retention.int.test.ts).
    'delete an order': `delete from orders ${noRow}`,
    'delete a saga': `delete from sagas ${noRow}`,
    'read order lines': 'select sku from order_items',
  },
};

/** What no role may do: own, create or change the schema, or read the migrations' books. */
const forbiddenToAll: Record<string, string> = {
  'create a table': 'create table roles_probe (id int)',
  'create a schema': 'create schema roles_probe',
  'add a column': 'alter table orders add column roles_probe int',
  'drop a table': 'drop table order_redrives',
  'truncate a table': 'truncate outbox',
  'read the migrations': 'select name from kysely_migration',
  'grant itself more': 'grant select on kysely_migration to public',
};

/** The statement, refused with SQLSTATE 42501 (insufficient privilege). */
async function expectRefused(name: DatabaseFunction, statement: string) {
  await expect(sql.raw(statement).execute(as[name])).rejects.toMatchObject({ code: '42501' });
}

describe.each(names)('%s is refused', (name) => {
  const cases = Object.entries({ ...forbidden[name], ...forbiddenToAll });
  it.each(cases)('to %s', async (_what, statement) => {
    await expectRefused(name, statement);
  });
});

describe('the outbox: only the relay reads every row', () => {
  const writers = ['place-order', 'process-order', 'payment-handler'] as const;

  it('a writer sees only its own rows, and of them not the event', async () => {
    // An event of a type each writer emits, under its name.
    const orderId = randomUUID();
    const own = {
      'place-order': createEvent(
        'OrderPlaced',
        {
          orderId,
          customerId: 'cust-roles',
          currency: 'EUR',
          items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1 }],
          totalMinor: 1,
        },
        { source: 'place-order', correlationId: randomUUID() },
      ),
      'process-order': createEvent(
        'OrderConfirmed',
        { orderId, totalMinor: 1, currency: 'EUR' },
        { source: 'process-order', correlationId: randomUUID() },
      ),
      'payment-handler': createEvent(
        'PaymentSucceeded',
        {
          orderId,
          paymentId: `pay_${orderId}`,
          providerRef: 'ch_1',
          amountMinor: 1,
          currency: 'EUR',
        },
        { source: 'payment-handler', correlationId: randomUUID() },
      ),
    };
    await insertOutboxRows(admin, Object.values(own));
    const { rows: all } = await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(
      admin,
    );
    for (const name of writers) {
      const { rows } = await sql<{ id: string }>`
        select id from outbox where id = any(${Object.values(own).map((event) => event.id)}::uuid[])`.execute(
        as[name],
      );
      expect(rows).toEqual([{ id: own[name]!.id }]);
      const { rows: counted } = await sql<{ n: number }>`
        select count(*)::int as n from outbox`.execute(as[name]);
      expect(counted[0]!.n).toBeLessThan(all[0]!.n);
    }
    const { rows: relayed } = await sql<{ n: number }>`
      select count(event)::int as n from outbox`.execute(as.housekeeping);
    expect(relayed).toEqual(all);
  });

  it("a writer cannot mark another's row sent, nor write a row in another's name", async () => {
    const theirs = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 1, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    await insertOutboxRows(admin, [theirs]);
    const marked = await sql`
      update outbox set sent_at = now() where id = ${theirs.id}::uuid`.execute(as['place-order']);
    expect(marked.numAffectedRows).toBe(0n);
    expect(await unsentRows([theirs.id])).toEqual([theirs.id]);

    for (const name of [...writers, 'housekeeping'] as const) {
      const forged = createEvent(
        'PaymentSucceeded',
        {
          orderId: randomUUID(),
          paymentId: 'pay_forged',
          providerRef: 'ch_forged',
          amountMinor: 1,
          currency: 'EUR',
        },
        {
          source: name === 'payment-handler' ? 'place-order' : 'payment-handler',
          correlationId: randomUUID(),
        },
      );
      await expect(insertOutboxRows(as[name], [forged])).rejects.toMatchObject({ code: '42501' });
    }
  });
});
