import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createEvent,
  type DomainEvent,
  type EventData,
  type EventType,
  paymentIdOf,
} from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import type { StalledOrder } from '@orders/ordering';
import { createOrderSagaEngine, type OrderSagaEngine, readSagaGauges } from '@orders/ordering';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { createLogger } from '@orders/platform';
import { sql } from 'kysely';
import type { SagaHistory } from './saga-history';
import type { SagaListing } from './saga-listing';

/**
 * `pnpm sagas` (the built dist/sagas.js) as an operator runs it, on sagas the real order saga
 * engine drove through PostgreSQL.
 */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'sagas.js');
const maxCompensationAttempts = 3;
/** Each CLI run starts node (2 to 3 s on a busy machine): more than jest's default 60 s. */
const cliTestTimeoutMs = 150_000;
/** What the engine logs (errors only): kept off the test output, and checked. */
const logged: string[] = [];
const log = createLogger({ level: 'error', write: (line) => logged.push(line) });
let tmp: string;
let database: TestDatabase;
let engine: OrderSagaEngine;
let parkedAt: string;
let stalledAt: string;

/** The sagas the tests drive, by what became of them. */
const orders: Record<
  'confirmed' | 'outOfStock' | 'parked' | 'waiting' | 'stalled',
  DomainEvent<'OrderPlaced'>
> = {} as never;

async function sagas(args: string[], env: NodeJS.ProcessEnv = { DATABASE_URL: database.url }) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { DEV_STACK_FILE: join(tmp, 'no-dev-stack.json'), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function place(items: NonNullable<EventData<'OrderPlaced'>['items']>) {
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId: 'cust-ops',
      currency: 'EUR',
      items,
      totalMinor: items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
    },
    { source: 'place-order', correlationId: randomUUID() },
  );
  await insertPlacedOrder(database.db, placed);
  return placed;
}

function followUp<T extends EventType>(
  placed: DomainEvent<'OrderPlaced'>,
  type: T,
  data: Omit<EventData<T>, 'orderId'>,
) {
  return createEvent(type, { orderId: placed.data.orderId, ...data } as EventData<T>, {
    source: 'payment-handler',
    correlationId: placed.correlationId,
    causationId: placed.id,
  });
}

/** Delivers an event as process-order does; returns the status the saga moved to. */
async function deliver(event: DomainEvent) {
  const applied = await engine.apply(event.subject, event as never, {
    log,
    causationId: event.id,
    correlationId: event.correlationId,
  });
  return applied === 'duplicate' ? applied : applied?.status;
}

const tea = (quantity: number) => ({ sku: 'TEA-002', quantity, unitPriceMinor: 899 });

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sagas-cli-'));
  database = await testDatabase('sagas-cli');
  engine = createOrderSagaEngine(database.db, {
    paymentTimeoutMs: 120_000,
    refundTimeoutMs: 60_000,
    maxRefundRequests: 3,
    maxCompensationAttempts,
  });

  orders.confirmed = await place([tea(2)]);
  await deliver(orders.confirmed);
  await deliver(
    followUp(orders.confirmed, 'PaymentSucceeded', {
      paymentId: paymentIdOf(orders.confirmed.data.orderId),
      providerRef: 'ch_ops_1',
      amountMinor: 1798,
      currency: 'EUR',
    }),
  );

  orders.outOfStock = await place([{ sku: 'RARE-001', quantity: 1, unitPriceMinor: 2750 }]);
  expect(await deliver(orders.outOfStock)).toBe('CANCELLED');

  // Its payment fails, and releasing its stock (the compensation) fails every time.
  orders.parked = await place([tea(1)]);
  await deliver(orders.parked);
  await sql`
    create or replace function refuse_release() returns trigger language plpgsql as $$
    begin raise exception 'release refused for %', new.order_id; end $$;
    create trigger refuse_release before update on stock_reservations
    for each row when (new.state = 'released' and new.order_id = ${sql.lit(orders.parked.data.orderId)}::uuid)
    execute function refuse_release();
  `.execute(database.db);
  const declined = followUp(orders.parked, 'PaymentFailed', {
    paymentId: paymentIdOf(orders.parked.data.orderId),
    reason: 'declined',
  });
  for (let attempt = 1; attempt < maxCompensationAttempts; attempt++) {
    await expect(deliver(declined)).rejects.toThrow(/release refused/);
  }
  expect(await deliver(declined)).toBe('NEEDS_ATTENTION');
  const parked = await database.db
    .selectFrom('sagas')
    .select('updated_at')
    .where('id', '=', orders.parked.data.orderId)
    .executeTakeFirstOrThrow();
  parkedAt = parked.updated_at.toISOString();
  expect(logged.map((line) => JSON.parse(line).message)).toEqual([
    'saga parked: a compensation keeps failing',
  ]);

  orders.waiting = await place([tea(1)]);
  expect(await deliver(orders.waiting)).toBe('AWAITING_PAYMENT');

  // Published (its outbox row is sent), then dead-lettered: it never reached the saga.
  // Placed an hour ago.
  orders.stalled = await place([tea(1)]);
  await database.db
    .updateTable('outbox')
    .set({ sent_at: new Date() })
    .where('id', '=', orders.stalled.id)
    .execute();
  const { rows } = await sql<{ created_at: Date }>`
    update orders set created_at = now() - interval '1 hour'
    where id = ${orders.stalled.data.orderId}::uuid returning created_at`.execute(database.db);
  stalledAt = rows[0]!.created_at.toISOString();
});

afterAll(async () => {
  await database?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pnpm sagas', () => {
  it(
    'a compensation that fails repeatedly ends NEEDS_ATTENTION, visible in a CLI listing',
    async () => {
      const { orderId } = orders.parked.data;

      const json = await sagas(['list', '--status', 'NEEDS_ATTENTION', '--json']);
      expect(json).toMatchObject({ code: 0, stderr: expect.stringContaining('the database at') });
      const { sagas: listed } = JSON.parse(json.stdout) as { sagas: SagaListing[] };
      expect(listed).toEqual([
        {
          orderId,
          status: 'NEEDS_ATTENTION',
          version: 3,
          correlationId: orders.parked.correlationId,
          deadlineAt: null,
          overdueSeconds: null,
          updatedAt: parkedAt,
          reason: expect.stringMatching(
            new RegExp(`^compensation failed 3 times: .*release refused for ${orderId}`),
          ),
          failedAttempts: 3,
          lastError: expect.stringContaining(`release refused for ${orderId}`),
          setAside: 0,
          totalMinor: 899,
          currency: 'EUR',
          cancelReason: 'payment_declined',
        },
      ]);

      const table = await sagas(['list', '--status', 'NEEDS_ATTENTION']);
      expect(table.code).toBe(0);
      const [health, blank, ...lines] = table.stdout.trimEnd().split('\n');
      // Counted over every saga, whatever the listing shows.
      expect(health).toMatch(/^1 saga parked in NEEDS_ATTENTION \(pnpm sagas list --status/);
      expect(blank).toBe('');
      expect(lines[0]).toMatch(
        /^ORDER ID +STATUS +VERSION +CORRELATION ID +DEADLINE +UPDATED +TOTAL +CANCEL REASON/,
      );
      expect(lines.slice(1)).toEqual([expect.any(String), '1 saga']);
      const [id, status, version, correlationId, deadline, , total, cancelReason, reason] =
        lines[1]!.split(/ {2,}/);
      expect({ id, status, version, correlationId, deadline, total, cancelReason }).toEqual({
        id: orderId,
        status: 'NEEDS_ATTENTION',
        version: '3',
        correlationId: orders.parked.correlationId,
        deadline: '-',
        total: '8.99 EUR',
        cancelReason: 'payment_declined',
      });
      expect(reason).toMatch(/^compensation failed 3 times: .*release refused/);

      const shown = await sagas(['show', orderId]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^status +NEEDS_ATTENTION$/m);
      expect(shown.stdout).toMatch(
        new RegExp(`^correlation id +${orders.parked.correlationId}$`, 'm'),
      );
      expect(shown.stdout).toMatch(/^ {2}total +8\.99 EUR$/m);
      const steps = shown.stdout
        .split('\n')
        .filter((line) => line.includes(' -> '))
        .map((line) => line.trim().split(/ {2,}/));
      expect(steps.map(([v, , transition, cause]) => `${v}: ${transition} on ${cause}`)).toEqual([
        '1: NEW -> RESERVING_STOCK on OrderPlaced',
        '2: RESERVING_STOCK -> AWAITING_PAYMENT on StockReserved',
        '3: AWAITING_PAYMENT -> NEEDS_ATTENTION on PaymentFailed',
      ]);
      expect(steps.at(-1)!.at(-1)).toMatch(/^compensation failed 3 times: .*release refused/);
    },
    cliTestTimeoutMs,
  );

  it(
    'shows the full record as JSON: saga, order and history in version order',
    async () => {
      const { orderId } = orders.parked.data;
      const shown = await sagas(['show', '--json', orderId]);
      expect(shown.code).toBe(0);
      const history = JSON.parse(shown.stdout) as SagaHistory;
      expect(history.saga).toMatchObject({
        orderId,
        type: 'order',
        status: 'NEEDS_ATTENTION',
        version: 3,
        correlationId: orders.parked.correlationId,
        failedAttempts: 3,
        state: { status: 'NEEDS_ATTENTION', orderId, totalMinor: 899, currency: 'EUR' },
      });
      expect(history.order).toEqual({
        status: 'NEEDS_ATTENTION',
        cancelReason: 'payment_declined',
        totalMinor: 899,
        currency: 'EUR',
        customerId: 'cust-ops',
      });
      expect(history.transitions.map(({ version, from, to }) => [version, from, to])).toEqual([
        [1, 'NEW', 'RESERVING_STOCK'],
        [2, 'RESERVING_STOCK', 'AWAITING_PAYMENT'],
        [3, 'AWAITING_PAYMENT', 'NEEDS_ATTENTION'],
      ]);
      expect(history.transitions[0]!.causeEventId).toBe(orders.parked.id);
      expect(history.transitions[2]).toMatchObject({
        cause: 'PaymentFailed',
        note: expect.stringMatching(/^compensation failed 3 times/),
      });

      const cancelled = JSON.parse(
        (await sagas(['show', '--json', orders.outOfStock.data.orderId])).stdout,
      ) as SagaHistory;
      expect(cancelled.order).toMatchObject({ status: 'CANCELLED', cancelReason: 'out_of_stock' });
      expect(cancelled.transitions.map(({ to, cause }) => `${to} on ${cause}`)).toEqual([
        'RESERVING_STOCK on OrderPlaced',
        'CANCELLED on StockUnavailable',
      ]);
    },
    cliTestTimeoutMs,
  );

  it(
    'lists every saga newest first, within the limit, from the dev stack file as well',
    async () => {
      const listed = (stdout: string) => (JSON.parse(stdout) as { sagas: SagaListing[] }).sagas;
      const ids = (stdout: string) => listed(stdout).map((s) => s.orderId);
      const all = await sagas(['list', '--json']);
      // The counts the text's first line gives, whatever the filter and limit.
      expect(JSON.parse(all.stdout)).toMatchObject({ parked: 1, overdue: 0 });
      expect(JSON.parse((await sagas(['list', '--json', '--limit', '1'])).stdout)).toMatchObject({
        parked: 1,
        overdue: 0,
      });
      expect(ids(all.stdout)).toEqual(
        [orders.waiting, orders.parked, orders.outOfStock, orders.confirmed].map(
          (placed) => placed.data.orderId,
        ),
      );
      expect(listed(all.stdout).map((s) => s.status)).toEqual([
        'AWAITING_PAYMENT',
        'NEEDS_ATTENTION',
        'CANCELLED',
        'CONFIRMED',
      ]);
      expect(ids((await sagas(['list', '--json', '--limit', '2'])).stdout)).toEqual([
        orders.waiting.data.orderId,
        orders.parked.data.orderId,
      ]);
      expect((await sagas(['list', '--limit', '2'])).stdout).toMatch(
        /\n2 sagas \(the 2 most recent: --limit shows more\)\n$/,
      );
      expect(ids((await sagas(['list', '--json', '--overdue'])).stdout)).toEqual([]);
      expect(ids((await sagas(['list', '--json', '--status', 'CONFIRMED'])).stdout)).toEqual([
        orders.confirmed.data.orderId,
      ]);
      expect((await sagas(['list', '--status', 'RESERVING_STOCK'])).stdout).toMatch(
        /\n\nno sagas\n$/,
      );

      // No DATABASE_URL: the running dev stack's database, from its ready line.
      const devStackFile = join(tmp, 'dev-stack.json');
      await writeFile(
        devStackFile,
        JSON.stringify({
          databaseUrl: database.url,
          pubsubEmulatorHost: '127.0.0.1:1',
          projectId: 'orders-local',
          functions: {},
        }),
      );
      const fromFile = await sagas(['list', '--json', '--status', 'NEEDS_ATTENTION'], {
        DEV_STACK_FILE: devStackFile,
      });
      expect(fromFile.code).toBe(0);
      expect(ids(fromFile.stdout)).toEqual([orders.parked.data.orderId]);
    },
    cliTestTimeoutMs,
  );

  it(
    'answers a wrong command line with usage (2), and what is absent or unreachable with 1',
    async () => {
      const missing = randomUUID();
      // Independent runs: started together, as each pays a node start.
      const [unknown, notUuid, absent, nowhere, down] = await Promise.all([
        sagas(['list', '--status', 'STUCK']),
        sagas(['show', '42']),
        sagas(['show', missing]),
        sagas(['list'], {}),
        sagas(['list'], { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/postgres' }),
      ]);
      expect(unknown).toMatchObject({ code: 2, stdout: '' });
      expect(unknown.stderr).toMatch(
        /unknown status STUCK: one of RESERVING_STOCK, AWAITING_PAYMENT, CANCELLED, CONFIRMED, NEEDS_ATTENTION/,
      );
      expect(unknown.stderr).toContain('usage: pnpm sagas');

      expect(notUuid).toMatchObject({ code: 2, stdout: '' });
      expect(notUuid.stderr).toContain('not an order id (a uuid): 42');

      expect(absent).toMatchObject({
        code: 1,
        stdout: '',
        stderr: expect.stringContaining(`no saga for order ${missing}`),
      });

      expect(nowhere).toMatchObject({ code: 1, stdout: '' });
      expect(nowhere.stderr).toMatch(/no database to read: .*no-dev-stack\.json does not exist/);

      expect(down).toMatchObject({ code: 1, stdout: '' });
      expect(down.stderr).toMatch(
        /reading the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1/,
      );
      expect(down.stderr).not.toContain('secret');
    },
    cliTestTimeoutMs,
  );

  it(
    'lists the orders placed long ago that have no saga, and re-drives one on purpose',
    async () => {
      const { orderId } = orders.stalled.data;
      const outboxRow = () =>
        database.db
          .selectFrom('outbox')
          .select(['sent_at', 'published_topics', 'next_attempt_at'])
          .where('id', '=', orders.stalled.id)
          .executeTakeFirstOrThrow();
      const redriveRows = () =>
        database.db
          .selectFrom('order_redrives')
          .selectAll()
          .where('order_id', '=', orderId)
          .execute();

      const listed = await sagas(['stalled', '--json']);
      expect(listed.code).toBe(0);
      const stalled = JSON.parse(listed.stdout) as StalledOrder[];
      expect(stalled).toEqual([
        {
          orderId,
          correlationId: orders.stalled.correlationId,
          placedAt: stalledAt,
          ageSeconds: expect.any(Number),
          redrives: 0,
          lastRedriveAt: null,
        },
      ]);
      expect(stalled[0]!.ageSeconds).toBeGreaterThan(900);

      const table = await sagas(['stalled']);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        /^ORDER ID +PLACED AT +AGE +RE-DRIVES +CORRELATION ID +LAST RE-DRIVE$/,
      );
      expect(lines.slice(1)).toEqual([expect.stringContaining(orderId), '1 stalled order']);
      const [id, placedAt, , redrives, correlationId] = lines[1]!.trim().split(/ {2,}/);
      expect({ id, placedAt, redrives, correlationId }).toEqual({
        id: orderId,
        placedAt: stalledAt,
        redrives: '0',
        correlationId: orders.stalled.correlationId,
      });

      const dry = await sagas(['redrive', orderId, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toBe(
        `would re-drive order ${orderId}: publish its OrderPlaced ${orders.stalled.id} again to order-saga (re-drives so far: 0)\n`,
      );
      expect((await outboxRow()).sent_at).not.toBeNull();
      expect(await redriveRows()).toEqual([]);

      const done = await sagas(['redrive', orderId]);
      expect(done.code).toBe(0);
      expect(done.stdout).toBe(
        `re-drove order ${orderId}: its OrderPlaced ${orders.stalled.id} goes to order-saga again at the next housekeeping tick (re-drive 1)\n`,
      );
      // The saga's route is unsent again, the others stay sent; the relay takes it at once.
      expect(await outboxRow()).toEqual({
        sent_at: null,
        published_topics: ['analytics'],
        next_attempt_at: null,
      });
      expect(await redriveRows()).toEqual([
        expect.objectContaining({ order_id: orderId, attempts: 1 }),
      ]);
      const after = JSON.parse((await sagas(['stalled', '--json'])).stdout) as StalledOrder[];
      expect(after).toEqual([
        expect.objectContaining({ orderId, redrives: 1, lastRedriveAt: expect.any(String) }),
      ]);
    },
    cliTestTimeoutMs,
  );

  it(
    'refuses to re-drive an order that has a saga, is not PLACED or does not exist (1), and a wrong command line (2)',
    async () => {
      // Cancelled by hand, with no saga: not PLACED.
      const cancelled = await place([tea(1)]);
      await database.db
        .updateTable('orders')
        .set({ status: 'CANCELLED' })
        .where('id', '=', cancelled.data.orderId)
        .execute();
      const missing = randomUUID();
      const confirmedId = orders.confirmed.data.orderId;
      const [withSaga, notPlaced, absent, noId, stalledDry, listDry] = await Promise.all([
        sagas(['redrive', confirmedId]),
        sagas(['redrive', cancelled.data.orderId]),
        sagas(['redrive', missing]),
        sagas(['redrive']),
        sagas(['stalled', '--dry-run']),
        sagas(['list', '--dry-run']),
      ]);
      expect(withSaga).toMatchObject({ code: 1, stdout: '' });
      expect(withSaga.stderr).toContain(
        `order ${confirmedId} has a saga (CONFIRMED): it needs no re-drive (pnpm sagas show ${confirmedId})`,
      );
      expect(notPlaced).toMatchObject({ code: 1, stdout: '' });
      expect(notPlaced.stderr).toContain(
        `order ${cancelled.data.orderId} is CANCELLED, not PLACED: nothing to re-drive`,
      );
      expect(absent).toMatchObject({ code: 1, stdout: '' });
      expect(absent.stderr).toContain(`no order ${missing}`);
      expect(await database.db.selectFrom('order_redrives').select('order_id').execute()).toEqual([
        { order_id: orders.stalled.data.orderId },
      ]);
      for (const usage of [noId, stalledDry, listDry]) {
        expect(usage).toMatchObject({ code: 2, stdout: '' });
        expect(usage.stderr).toContain('usage: pnpm sagas');
      }
      expect(noId.stderr).toContain('redrive takes one order id');
      expect(stalledDry.stderr).toContain('--dry-run applies to redrive and retry only');
    },
    cliTestTimeoutMs,
  );

  it(
    'shows an overdue saga at a glance: counted above the list, marked in it, and listed alone',
    async () => {
      const { orderId } = orders.waiting.data;
      // Housekeeping did not wake it: its deadline passed five minutes ago.
      await sql`update sagas set deadline_at = now() - interval '5 minutes'
        where id = ${orderId}::uuid`.execute(database.db);
      const overdue = await sagas(['list', '--overdue', '--json']);
      const { sagas: listed } = JSON.parse(overdue.stdout) as { sagas: SagaListing[] };
      expect(listed.map((saga) => saga.orderId)).toEqual([orderId]);
      expect(JSON.parse(overdue.stdout)).toMatchObject({ parked: 1, overdue: 1 });
      expect(listed[0]!.overdueSeconds).toBeGreaterThanOrEqual(300);
      expect(listed[0]!.overdueSeconds).toBeLessThan(400);

      const table = (await sagas(['list'])).stdout.split('\n');
      expect(table[0]).toMatch(
        /^1 saga parked in NEEDS_ATTENTION .*; 1 overdue by up to 5m \d+s \(past their deadline, not woken yet: is housekeeping running\? pnpm sagas list --overdue\)$/,
      );
      expect(table.find((line) => line.startsWith(orderId))).toMatch(/Z \(overdue 5m \d+s\)/);
      await sql`update sagas set deadline_at = now() + interval '2 minutes'
        where id = ${orderId}::uuid`.execute(database.db);
    },
    cliTestTimeoutMs,
  );

  it(
    'counts a saga overdue only SAGA_OVERDUE_SECONDS (300) past its deadline, as the gauge does',
    async () => {
      const { orderId } = orders.waiting.data;
      // Two minutes past its deadline: within the sweep's grace, not overdue yet.
      await sql`update sagas set deadline_at = now() - interval '2 minutes'
        where id = ${orderId}::uuid`.execute(database.db);
      const listing = (stdout: string) =>
        JSON.parse(stdout) as { overdue: number; sagas: SagaListing[] };
      const quiet = listing((await sagas(['list', '--overdue', '--json'])).stdout);
      expect(quiet.sagas).toEqual([]);
      expect(quiet.overdue).toBe(0);
      // Housekeeping's gauge, by the same definition.
      expect(await readSagaGauges(database.db, { overdueGraceSeconds: 300 })).toMatchObject({
        overdue: 0,
        oldestOverdueSeconds: null,
      });
      const all = listing((await sagas(['list', '--json'])).stdout).sagas;
      expect(all.find((saga) => saga.orderId === orderId)?.overdueSeconds).toBeNull();
      expect((await sagas(['list'])).stdout.split('\n')[0]).not.toContain('overdue');

      // With a grace of a minute, it is.
      const env = { DATABASE_URL: database.url, SAGA_OVERDUE_SECONDS: '60' };
      const listed = listing((await sagas(['list', '--overdue', '--json'], env)).stdout);
      expect(listed.sagas.map((saga) => saga.orderId)).toEqual([orderId]);
      expect(listed.overdue).toBe(1);
      const gauges = await readSagaGauges(database.db, { overdueGraceSeconds: 60 });
      expect(gauges.overdue).toBe(1);
      expect(gauges.oldestOverdueSeconds).toBeGreaterThanOrEqual(120);
      expect(gauges.oldestOverdueSeconds).toBeLessThan(200);
      expect((await sagas(['list'], env)).stdout.split('\n')[0]).toMatch(
        /; 1 overdue by up to 2m \d+s \(/,
      );
      const refused = await sagas(['list'], { ...env, SAGA_OVERDUE_SECONDS: 'soon' });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('SAGA_OVERDUE_SECONDS');
      await sql`update sagas set deadline_at = now() + interval '2 minutes'
        where id = ${orderId}::uuid`.execute(database.db);
    },
    cliTestTimeoutMs,
  );

  it(
    'prints the saga diagram of docs/architecture.md, generated from the definition',
    async () => {
      const printed = await sagas(['diagram'], {});
      expect(printed).toMatchObject({ code: 0, stderr: '' });
      const doc = await readFile(join(__dirname, '../../../docs/architecture.md'), 'utf8');
      const block = /<!-- saga-diagram:[^\n]*-->\n```mermaid\n([\s\S]*?)\n```/.exec(doc);
      expect(printed.stdout).toBe(`${block![1]}\n`);
      expect(printed.stdout).toContain('NEEDS_ATTENTION --> CANCELLED');
    },
    cliTestTimeoutMs,
  );

  it(
    'retries a saga parked by a failing stock release: a dry run first, a failure parks it again, then it settles',
    async () => {
      const { orderId } = orders.parked.data;
      const saga = () =>
        database.db
          .selectFrom('sagas')
          .select(['status', 'version', 'failed_attempts'])
          .where('id', '=', orderId)
          .executeTakeFirstOrThrow();
      const stock = async () =>
        (
          await database.db
            .selectFrom('stock_reservations')
            .select('state')
            .where('order_id', '=', orderId)
            .execute()
        ).map((row) => row.state);

      const dry = await sagas(['retry', orderId, '--dry-run']);
      expect(dry).toMatchObject({
        code: 0,
        stdout: `would retry the saga of order ${orderId} (version 3): release the stock it still holds; NEEDS_ATTENTION -> CANCELLED\n`,
      });
      expect(await saga()).toEqual({ status: 'NEEDS_ATTENTION', version: 3, failed_attempts: 3 });

      // The release is still refused: the retry parks it again, owing it, and says so.
      const refused = await sagas(['retry', orderId]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(
        new RegExp(
          `^retried the saga of order ${orderId}: NEEDS_ATTENTION -> NEEDS_ATTENTION \\(compensation failed 4 times: .*release refused for ${orderId}.*\\)\nstill parked: the stock release failed again \\(.*release refused for ${orderId}\\)\n$`,
        ),
      );
      expect(await saga()).toEqual({ status: 'NEEDS_ATTENTION', version: 4, failed_attempts: 4 });
      expect(await stock()).toEqual(['reserved']);

      // Whatever refused it is fixed: the retry releases the stock and cancels the order.
      await sql`drop trigger refuse_release on stock_reservations`.execute(database.db);
      const done = await sagas(['retry', orderId]);
      expect(done).toMatchObject({
        code: 0,
        stdout: `retried the saga of order ${orderId}: NEEDS_ATTENTION -> CANCELLED (retried by an operator: stock released)\n`,
      });
      expect(await saga()).toEqual({ status: 'CANCELLED', version: 5, failed_attempts: 0 });
      expect(await stock()).toEqual(['released']);
      const history = JSON.parse((await sagas(['show', '--json', orderId])).stdout) as SagaHistory;
      expect(history.order).toMatchObject({
        status: 'CANCELLED',
        cancelReason: 'payment_declined',
      });
      expect(history.saga.state.owed).toBeUndefined();
      expect(history.transitions.slice(3).map((t) => `${t.from} -> ${t.to} on ${t.cause}`)).toEqual(
        [
          'NEEDS_ATTENTION -> NEEDS_ATTENTION on RetryRequested',
          'NEEDS_ATTENTION -> CANCELLED on RetryRequested',
        ],
      );

      // Settled: nothing more to retry.
      const again = await sagas(['retry', orderId]);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toContain(
        `the saga of order ${orderId} is CANCELLED, not parked (NEEDS_ATTENTION): nothing to retry`,
      );
      expect((await saga()).version).toBe(5);
    },
    cliTestTimeoutMs,
  );

  it(
    'retries a saga parked for a refund no one confirmed: asks for it again through the outbox',
    async () => {
      const placed = await place([tea(1)]);
      const { orderId } = placed.data;
      expect(await deliver(placed)).toBe('AWAITING_PAYMENT');
      // Its payment times out, then its refund goes unconfirmed three times: parked.
      const deadline = () =>
        engine.apply(orderId, { type: 'DeadlinePassed' }, { log, causationId: null });
      for (const expected of ['CANCELLED', 'CANCELLED', 'CANCELLED', 'NEEDS_ATTENTION']) {
        expect(await deadline()).toMatchObject({ status: expected });
      }
      const refundRows = () =>
        database.db
          .selectFrom('outbox')
          .select(['producer', sql<string>`event->>'correlationId'`.as('correlation_id')])
          .where(sql<string>`event->>'type'`, '=', 'RefundRequested')
          .where(sql<string>`event->'data'->>'orderId'`, '=', orderId)
          .execute();
      expect(await refundRows()).toHaveLength(3);

      const dry = await sagas(['retry', orderId, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(
        new RegExp(
          `^would retry the saga of order ${orderId} \\(version 6\\): emit RefundRequested \\(through the outbox\\); NEEDS_ATTENTION -> NEEDS_ATTENTION, deadline \\S+Z\n$`,
        ),
      );
      expect(await refundRows()).toHaveLength(3);

      const retried = await sagas(['retry', orderId]);
      expect(retried).toMatchObject({
        code: 0,
        stdout:
          `retried the saga of order ${orderId}: NEEDS_ATTENTION -> NEEDS_ATTENTION (retried by an operator: refund asked again (request 4))\n` +
          'its RefundRequested goes out at the next housekeeping tick (outbox relay)\n' +
          'still parked until its refund is confirmed (its PaymentRefunded settles it)\n',
      });
      const rows = await refundRows();
      expect(rows).toHaveLength(4);
      expect(rows.every((row) => row.producer === 'process-order')).toBe(true);
      expect(rows.every((row) => row.correlation_id === placed.correlationId)).toBe(true);
      const waiting = await database.db
        .selectFrom('sagas')
        .select(['status', 'deadline_at'])
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow();
      expect(waiting.status).toBe('NEEDS_ATTENTION');
      expect(waiting.deadline_at).not.toBeNull();

      const [absent, notParked] = await Promise.all([
        sagas(['retry', randomUUID()]),
        sagas(['retry', orders.waiting.data.orderId]),
      ]);
      expect(absent).toMatchObject({
        code: 1,
        stdout: '',
        stderr: expect.stringContaining('no saga for order'),
      });
      expect(notParked.stderr).toContain('is AWAITING_PAYMENT, not parked (NEEDS_ATTENTION)');
    },
    cliTestTimeoutMs,
  );
});
