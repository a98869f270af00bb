import type { Database } from '@orders/db';
import { decodeMessage, type Envelope, routes, topics } from '@orders/events';
import { type SandboxLedgerTables, sandboxLedgerExists } from '@orders/payments';
import { type Kysely, sql } from 'kysely';
import { isDocumentedMove, orderStatusOfSaga, sagaPathOf } from './documented-saga';

export interface Violation {
  /** The number of the invariant (docs/architecture.md, "The invariants and their checker"). */
  invariant: 1 | 2 | 3 | 4 | 5 | 6 | 7;
  orderId?: string;
  correlationId?: string;
  detail: string;
}

/**
 * What the warehouse holds: per event id, its copies, its rows in the dedup view, and the
 * order it is about (when known).
 */
export type WarehouseCounts = ReadonlyMap<
  string,
  { rows: number; deduplicated: number; orderId?: string }
>;

/** The counts of a warehouse's load audit (`Warehouse.auditEvents()`). */
export function warehouseCountsOf(
  audit: readonly { eventId: string; orderId: string; rawRows: number; viewRows: number }[],
): WarehouseCounts {
  return new Map(
    audit.map((row) => [
      row.eventId,
      { rows: row.rawRows, deduplicated: row.viewRows, orderId: row.orderId },
    ]),
  );
}

/**
 * The windows housekeeping's retention ran with (RETENTION_*_DAYS of housekeeping, in
 * seconds): what is older may have been deleted, so the checker does not ask for it.
 */
export interface RetentionWindows {
  /** Outbox rows sent longer ago than this may be gone (RETENTION_SENT_OUTBOX_DAYS). */
  sentOutboxSeconds: number;
  /** Inbox claims older than this may be gone (RETENTION_PROCESSED_EVENTS_DAYS). */
  processedEventsSeconds: number;
  /** The history of a saga at rest since longer ago may be gone (RETENTION_SAGA_HISTORY_DAYS). */
  sagaHistorySeconds: number;
}

/** A message on a `<topic>-dlq`, as pulled: the topic it was refused on, its bytes and attributes. */
export interface DeadLetterSeen {
  topic: string;
  data: Buffer;
  attributes: Readonly<Record<string, string>>;
}

export interface InvariantInputs {
  db: Kysely<Database>;
  /** Stock per sku before any order. */
  initialStock: Readonly<Record<string, number>>;
  /** The messages sitting in the dead-letter queues: their orders may be unfinished. */
  deadLetters?: readonly DeadLetterSeen[];
  /** Omitted: invariant 5 is not checked. */
  warehouse?: WarehouseCounts;
  /** Omitted: retention deleted nothing, and every row the checks read must be there. */
  retention?: RetentionWindows;
}

/**
 * Checks the invariants of the design against the database (and the warehouse and the
 * dead letters), once the system is quiet, on one snapshot of the database. Returns every
 * violation with its order and correlation id.
 */
export async function checkInvariants(inputs: InvariantInputs): Promise<Violation[]> {
  const snapshot = await readSnapshot(inputs.db);
  return findViolations(snapshot, inputs);
}

type Snapshot = Awaited<ReturnType<typeof readSnapshot>>;

/** Everything the checks read, in one repeatable-read transaction: one consistent picture. */
async function readSnapshot(db: Kysely<Database>) {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => ({
      now: (await sql<{ now: Date }>`select now() as now`.execute(trx)).rows[0]!.now,
      orders: await trx
        .selectFrom('orders')
        .select(['id', 'status', 'cancel_reason', 'total_minor', 'correlation_id', 'created_at'])
        .execute(),
      items: await trx.selectFrom('order_items').select(['order_id', 'sku', 'quantity']).execute(),
      products: await trx.selectFrom('products').select(['sku', 'stock']).execute(),
      reservations: await trx
        .selectFrom('stock_reservations')
        .select(['order_id', 'sku', 'quantity', 'state'])
        .execute(),
      sagas: await trx
        .selectFrom('sagas')
        .select(['id', 'status', 'version', 'deadline_at', 'updated_at'])
        .execute(),
      transitions: await trx
        .selectFrom('saga_transitions')
        .select([
          'saga_id',
          'version',
          'from_status',
          'to_status',
          'cause_type',
          'emitted_event_ids',
          'at',
        ])
        .orderBy('saga_id')
        .orderBy('version')
        .execute(),
      outbox: (
        await trx
          .selectFrom('outbox')
          .select(['id', 'event', 'created_at', 'sent_at', 'set_aside_reason'])
          .execute()
      ).map((row) => ({ ...row, event: row.event as unknown as Envelope })),
      handled: await trx.selectFrom('processed_events').select(['consumer', 'event_id']).execute(),
      payments: await trx
        .selectFrom('payments')
        .select(['payment_id', 'order_id', 'status', 'amount_minor'])
        .execute(),
      // The sandbox provider's ledger, which exists where the sandbox has run: none yet means
      // it never moved money (a recorded charge without its ledger rows is still caught).
      ledger: (await sandboxLedgerExists(trx))
        ? await trx
            .withTables<SandboxLedgerTables>()
            .selectFrom('sandbox_provider_operations')
            .select(['order_id', 'payment_id', 'kind', 'outcome', 'amount_minor'])
            .where('outcome', '=', 'succeeded')
            .execute()
        : [],
    }));
}

function findViolations(snapshot: Snapshot, inputs: InvariantInputs): Violation[] {
  const violations: Violation[] = [];
  const orders = new Map(snapshot.orders.map((order) => [order.id, order]));
  const report = (invariant: Violation['invariant'], orderId: string | undefined, detail: string) =>
    violations.push({
      invariant,
      ...(orderId ? { orderId } : {}),
      ...(orderId && orders.has(orderId)
        ? { correlationId: orders.get(orderId)!.correlation_id }
        : {}),
      detail,
    });
  const outbox = new Map(snapshot.outbox.map((row) => [row.id, row.event]));
  const gone = retentionOf(snapshot.now, inputs.retention);
  const letters = decodeLetters(inputs.deadLetters ?? [], outbox, orders, gone);
  const sagas = new Map(snapshot.sagas.map((saga) => [saga.id, saga]));

  // 1. No loss: every accepted order is final, or a dead letter of it on its saga's path
  //    (one of ours, about this very order) says why not.
  for (const order of snapshot.orders) {
    if (order.status === 'CONFIRMED' || order.status === 'CANCELLED') continue;
    const path = sagaPathOf[order.status] ?? [];
    const excused = letters.some(
      (letter) => letter.orderId === order.id && path.includes(`${letter.topic}:${letter.type}`),
    );
    if (!excused) {
      report(
        1,
        order.id,
        `order is ${order.status}, not final, and no dead letter of it on its saga's path`,
      );
    }
  }

  checkMoney(snapshot, orders, report);
  checkStock(snapshot, inputs.initialStock, report);
  checkSagas(snapshot, orders, sagas, outbox, gone, report);

  // 5. Analytics holds exactly one row per event id after deduplication, for every event,
  //    and nothing that no producer wrote.
  if (inputs.warehouse) {
    for (const [id, event] of outbox) {
      const counts = inputs.warehouse.get(id);
      if (counts?.deduplicated !== 1) {
        report(
          5,
          event.subject,
          `event ${id} (${event.type}) has ${counts?.deduplicated ?? 0} rows in the dedup view`,
        );
      }
    }
    for (const [id, counts] of inputs.warehouse) {
      if (counts.deduplicated === 0 || outbox.has(id)) continue;
      // An event of an order older than the outbox's window: its row may have been purged.
      const order = counts.orderId === undefined ? undefined : orders.get(counts.orderId);
      if (order && gone.outboxRowOf(order.created_at)) continue;
      report(5, order?.id, `the warehouse holds event ${id}, which no producer wrote`);
    }
  }

  // 6. The outbox drains: every event published, and handled by every consumer it routes to
  //    (analytics is checked through the warehouse), unless dead-lettered there.
  const handled = new Set(snapshot.handled.map((row) => `${row.consumer}:${row.event_id}`));
  const deadLettered = new Set(letters.map((letter) => `${letter.topic}:${letter.eventId}`));
  for (const { id, event, created_at, sent_at, set_aside_reason } of snapshot.outbox) {
    if (sent_at === null) {
      const setAside = set_aside_reason ? ` (set aside: ${set_aside_reason})` : '';
      report(6, event.subject, `event ${id} (${event.type}) never published${setAside}`);
    }
    for (const topic of routes[event.type as keyof typeof routes] ?? []) {
      if (topic === 'analytics') continue;
      const { consumer } = topics[topic];
      if (
        !handled.has(`${consumer}:${id}`) &&
        !deadLettered.has(`${topic}:${id}`) &&
        // Written before the claims' window: its claim may have been purged.
        !gone.claimOf(created_at)
      ) {
        report(
          6,
          event.subject,
          `${event.type} ${id} routed to ${topic} was never handled by ${consumer}`,
        );
      }
    }
  }

  // 7. Every event of an order carries its correlation id.
  for (const [id, event] of outbox) {
    const order = orders.get(event.subject);
    if (order && event.correlationId !== order.correlation_id) {
      report(7, order.id, `${event.type} ${id} carries correlation id ${event.correlationId}`);
    }
  }
  return violations;
}

type Report = (
  invariant: Violation['invariant'],
  orderId: string | undefined,
  detail: string,
) => void;
type Orders = ReadonlyMap<string, Snapshot['orders'][number]>;
type Saga = Snapshot['sagas'][number];

/**
 * What retention may have deleted by the snapshot's time: only what is older than its
 * window (nothing without windows), so a row that must still be there is still asked for.
 * Each takes when the thing was written at the latest.
 */
function retentionOf(now: Date, windows: RetentionWindows | undefined) {
  const olderThan = (at: Date, seconds: number | undefined) =>
    seconds !== undefined && at.getTime() < now.getTime() - seconds * 1000;
  return {
    /** An outbox row written no later than `at` (it is sent after it is written). */
    outboxRowOf: (at: Date) => olderThan(at, windows?.sentOutboxSeconds),
    /** A claim of an event whose row was written no later than `at` (it is handled after). */
    claimOf: (at: Date) => olderThan(at, windows?.processedEventsSeconds),
    /** The history of a saga at rest (no deadline) since before the window. */
    historyOf: (saga: Saga) =>
      atRest.includes(saga.status) &&
      saga.deadline_at === null &&
      olderThan(saga.updated_at, windows?.sagaHistorySeconds),
  };
}
type Gone = ReturnType<typeof retentionOf>;
const atRest = ['CONFIRMED', 'CANCELLED'];

/**
 * 2. At most one net charge per order, of its total: a confirmed order nets its total, a
 *    cancelled one nets zero, any other nets one or the other. The provider's ledger agrees
 *    with the payments the payment service recorded.
 */
function checkMoney(snapshot: Snapshot, orders: Orders, report: Report) {
  const byOrder = Map.groupBy(snapshot.ledger, (row) => row.order_id);
  for (const [orderId, rows] of byOrder) {
    const order = orders.get(orderId);
    if (!order) {
      report(2, orderId, 'the provider moved money for an order that does not exist');
      continue;
    }
    const charges = rows.filter((row) => row.kind === 'charge');
    if (charges.length > 1) report(2, orderId, `charged ${charges.length} times`);
    for (const charge of charges) {
      if (charge.amount_minor !== order.total_minor) {
        report(2, orderId, `charged ${charge.amount_minor} for an order of ${order.total_minor}`);
      }
    }
  }
  for (const order of snapshot.orders) {
    const rows = byOrder.get(order.id) ?? [];
    const net = sum(rows, 'charge') - sum(rows, 'refund');
    const allowed =
      order.status === 'CONFIRMED'
        ? [order.total_minor]
        : order.status === 'CANCELLED'
          ? [0]
          : [0, order.total_minor];
    if (!allowed.includes(net)) {
      report(2, order.id, `${order.status} order of ${order.total_minor} nets ${net}`);
    }
  }

  const byPayment = Map.groupBy(snapshot.ledger, (row) => row.payment_id);
  const recorded = new Set(snapshot.payments.map((payment) => payment.payment_id));
  for (const payment of snapshot.payments) {
    const rows = byPayment.get(payment.payment_id) ?? [];
    const charged = sum(rows, 'charge');
    const refunded = sum(rows, 'refund');
    const expected = {
      charged: charged > 0 && refunded === 0,
      refunded: charged > 0 && refunded === charged,
      voided: charged === 0,
      declined: charged === 0,
    }[payment.status];
    if (!expected) {
      report(
        2,
        payment.order_id,
        `payment ${payment.payment_id} is ${payment.status} but the provider charged ${charged} and refunded ${refunded}`,
      );
    }
  }
  for (const [paymentId, rows] of byPayment) {
    if (!recorded.has(paymentId) && sum(rows, 'charge') > 0) {
      report(
        2,
        rows[0]!.order_id,
        `the provider charged payment ${paymentId}, which the payment service does not record`,
      );
    }
  }
}

/**
 * 3. Inventory is conserved (available + reserved + sold equals the starting stock), and
 *    what each order holds is its items, in the state its status calls for.
 */
function checkStock(snapshot: Snapshot, initialStock: Record<string, number>, report: Report) {
  const reservations = Map.groupBy(snapshot.reservations, (row) => row.order_id);
  const totals = new Map<string, { reserved: number; sold: number }>();
  for (const row of snapshot.reservations) {
    const total = totals.get(row.sku) ?? { reserved: 0, sold: 0 };
    if (row.state === 'reserved') total.reserved += row.quantity;
    if (row.state === 'sold') total.sold += row.quantity;
    totals.set(row.sku, total);
  }
  for (const product of snapshot.products) {
    const initial = initialStock[product.sku];
    const { reserved, sold } = totals.get(product.sku) ?? { reserved: 0, sold: 0 };
    if (initial !== undefined && product.stock + reserved + sold !== initial) {
      report(
        3,
        undefined,
        `${product.sku}: available ${product.stock} + reserved ${reserved} + sold ${sold} != ${initial}`,
      );
    }
  }

  const items = Map.groupBy(snapshot.items, (row) => row.order_id);
  for (const order of snapshot.orders) {
    const held = new Map((reservations.get(order.id) ?? []).map((row) => [row.sku, row]));
    const states = heldStates(order.status, order.cancel_reason);
    const wrong: string[] = [];
    if (states.length === 0) {
      for (const row of held.values())
        wrong.push(`${row.sku} ${row.state} ${row.quantity} (none expected)`);
    } else {
      for (const item of items.get(order.id) ?? []) {
        const row = held.get(item.sku);
        held.delete(item.sku);
        if (row && row.quantity === item.quantity && states.includes(row.state)) continue;
        const fits = row && states.includes(row.state);
        wrong.push(
          `${item.sku} ${states.join(' or ')} ${fits ? row.quantity : 0} of ${item.quantity}` +
            (row && !fits ? ` (${row.state} ${row.quantity})` : ''),
        );
      }
      for (const row of held.values())
        wrong.push(`${row.sku} ${row.state} ${row.quantity} (not in the order)`);
    }
    if (wrong.length > 0) report(3, order.id, `${order.status} order holds ${wrong.join('; ')}`);
  }
}

/** The states an order's stock may be in, by its status; none: it holds no stock. */
function heldStates(status: string, cancelReason: string | null): string[] {
  switch (status) {
    case 'AWAITING_PAYMENT':
      return ['reserved'];
    case 'CONFIRMED':
      return ['sold'];
    case 'CANCELLED':
      return cancelReason === 'out_of_stock' ? [] : ['released'];
    // Parked: its release may be what it owes.
    case 'NEEDS_ATTENTION':
      return ['reserved', 'released'];
    default:
      return [];
  }
}

/**
 * 4. Sagas only move as the documented saga does, from NEW, one version at a time, each
 *    move emitting what the design says; the order shows its saga's status; every order
 *    past intake has a saga and every saga an order; every event the saga emitted is cited
 *    by the move that emitted it.
 */
function checkSagas(
  snapshot: Snapshot,
  orders: Orders,
  sagas: ReadonlyMap<string, Saga>,
  outbox: ReadonlyMap<string, Envelope>,
  gone: Gone,
  report: Report,
) {
  for (const saga of sagas.values()) {
    const order = orders.get(saga.id);
    if (!order) {
      report(4, saga.id, 'saga has no order');
    } else if (orderStatusOfSaga[saga.status] !== order.status) {
      report(4, saga.id, `order is ${order.status} but its saga is ${saga.status}`);
    }
  }
  for (const order of orders.values()) {
    // A PLACED order without a saga is a loss (invariant 1) unless a dead letter explains it.
    if (!sagas.has(order.id) && order.status !== 'PLACED') report(4, order.id, 'order has no saga');
  }

  const histories = Map.groupBy(snapshot.transitions, (row) => row.saga_id);
  /** Sagas whose history retention deleted, all of it or its first moves. */
  const purgedHistory = new Set<string>();
  for (const saga of sagas.values()) {
    const first = histories.get(saga.id)?.[0]?.version;
    if (first === 1) continue;
    if (gone.historyOf(saga)) purgedHistory.add(saga.id);
    else {
      report(
        4,
        saga.id,
        first === undefined
          ? `saga is ${saga.status} at version ${saga.version} with no history`
          : `saga's history starts at version ${first}`,
      );
    }
  }

  const cited = new Set<string>();
  for (const [sagaId, history] of histories) {
    let previous: (typeof history)[number] | undefined;
    for (const transition of history) {
      const from = transition.from_status ?? 'NEW';
      const { version, to_status: to, cause_type: cause } = transition;
      if (version === 1 && from !== 'NEW') {
        report(4, sagaId, `the first transition starts from ${from}, not NEW`);
      }
      if (previous && (version !== previous.version + 1 || previous.to_status !== from)) {
        report(4, sagaId, `history breaks at version ${version}`);
      }
      // A row of an event emitted before the outbox's window may have been purged: its
      // type is then unknown (undefined), and the move is held to the rest.
      const emitted = transition.emitted_event_ids.map((id) => {
        cited.add(id);
        const type = outbox.get(id)?.type;
        return type ?? (gone.outboxRowOf(transition.at) ? undefined : `(missing ${id})`);
      });
      if (!isDocumentedMove(from, to, cause, emitted)) {
        report(
          4,
          sagaId,
          `${from} -> ${to} on ${cause} emitting ${emitted.map((type) => type ?? '(purged)').join(', ') || 'nothing'}: not a move of the documented saga`,
        );
      }
      previous = transition;
    }
    const saga = sagas.get(sagaId);
    if (!saga) {
      report(4, sagaId, 'history of a saga that does not exist');
    } else if (
      previous &&
      (previous.version !== saga.version || previous.to_status !== saga.status)
    ) {
      report(
        4,
        sagaId,
        `saga is ${saga.status} at version ${saga.version}, its history ends ${previous.to_status} at version ${previous.version}`,
      );
    }
  }
  for (const [id, event] of outbox) {
    if (event.source === 'process-order' && !cited.has(id) && !purgedHistory.has(event.subject)) {
      report(4, event.subject, `${event.type} ${id} was emitted by no transition of its saga`);
    }
  }
}

/**
 * The dead letters that are events of ours: in the outbox, about the order they name; or,
 * their row purged, about an order older than the outbox's window, with its correlation id.
 */
function decodeLetters(
  letters: readonly DeadLetterSeen[],
  outbox: ReadonlyMap<string, Envelope>,
  orders: Orders,
  gone: Gone,
) {
  return letters.flatMap((letter) => {
    try {
      const event = decodeMessage({ data: letter.data, attributes: { ...letter.attributes } });
      const ours = outbox.get(event.id);
      const order = orders.get(event.subject);
      const purged =
        !ours &&
        order !== undefined &&
        order.correlation_id === event.correlationId &&
        gone.outboxRowOf(order.created_at);
      if (!purged && (!ours || ours.subject !== event.subject || ours.type !== event.type)) {
        return [];
      }
      return [{ topic: letter.topic, type: event.type, eventId: event.id, orderId: event.subject }];
    } catch {
      return [];
    }
  });
}

function sum(rows: readonly { kind: string; amount_minor: number }[], kind: string): number {
  return rows
    .filter((row) => row.kind === kind)
    .reduce((total, row) => total + row.amount_minor, 0);
}
