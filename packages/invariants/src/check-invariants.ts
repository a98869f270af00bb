import type { Database } from '@orders/db';
import type { Envelope } from '@orders/events';
import { isLegalTransition, type SagaDefinition } from '@orders/sagas';
import { type Kysely, sql } from 'kysely';

export interface Violation {
  /** The number of the invariant in ARCHITECTURE.md. */
  invariant: 1 | 2 | 3 | 4 | 5 | 6 | 7;
  orderId?: string;
  correlationId?: string;
  detail: string;
}

/** What the warehouse holds: per event id, its copies and its rows in the dedup view. */
export type WarehouseCounts = ReadonlyMap<string, { rows: number; deduplicated: number }>;

/** The counts of a warehouse's load audit (`Warehouse.auditEvents()`). */
export function warehouseCountsOf(
  audit: readonly { eventId: string; rawRows: number; viewRows: number }[],
): WarehouseCounts {
  return new Map(
    audit.map((row) => [row.eventId, { rows: row.rawRows, deduplicated: row.viewRows }]),
  );
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
  /** The order saga's legal transitions. */
  transitions: SagaDefinition<{ status: string }, unknown, unknown>['transitions'];
  /** The messages sitting in the dead-letter queues: their orders may be unfinished. */
  deadLetters?: readonly DeadLetterSeen[];
  /** Omitted: invariant 5 is not checked. */
  warehouse?: WarehouseCounts;
}

/**
 * Checks the invariants of ARCHITECTURE.md against the database (and the warehouse), once
 * the system is quiet. Returns every violation with its order and correlation id.
 */
export async function checkInvariants(inputs: InvariantInputs): Promise<Violation[]> {
  const { db } = inputs;
  const violations: Violation[] = [];
  const orders = await db
    .selectFrom('orders')
    .select(['id', 'status', 'total_minor', 'correlation_id'])
    .execute();
  const byId = new Map(orders.map((order) => [order.id, order]));
  const about = (orderId: string) => ({
    orderId,
    correlationId: byId.get(orderId)?.correlation_id,
  });

  // 1. No loss: every accepted order is final, or visible in a DLQ.
  const deadLettered = new Set(
    (inputs.deadLetters ?? []).map((letter) => letter.attributes.correlation_id),
  );
  for (const order of orders) {
    if (order.status === 'CONFIRMED' || order.status === 'CANCELLED') continue;
    if (deadLettered.has(order.correlation_id)) continue;
    violations.push({
      invariant: 1,
      ...about(order.id),
      detail: `order is ${order.status}, not final and not in a DLQ`,
    });
  }

  // 2. At most one net charge per order; a cancelled order nets zero (the provider's ledger).
  const money = await db
    .selectFrom('sandbox_provider_operations')
    .select([
      'order_id',
      sql<number>`count(*) filter (where kind = 'charge' and outcome = 'succeeded')::int`.as(
        'charges',
      ),
      sql<number>`coalesce(sum(amount_minor) filter (where kind = 'charge' and outcome = 'succeeded'), 0)::bigint`.as(
        'charged',
      ),
      sql<number>`coalesce(sum(amount_minor) filter (where kind = 'refund' and outcome = 'succeeded'), 0)::bigint`.as(
        'refunded',
      ),
    ])
    .groupBy('order_id')
    .execute();
  for (const row of money) {
    const order = byId.get(row.order_id);
    const net = row.charged - row.refunded;
    if (row.charges > 1)
      violations.push({
        invariant: 2,
        ...about(row.order_id),
        detail: `charged ${row.charges} times`,
      });
    if (order?.status === 'CANCELLED' && net !== 0) {
      violations.push({
        invariant: 2,
        ...about(row.order_id),
        detail: `cancelled order nets ${net}`,
      });
    }
    if (order?.status === 'CONFIRMED' && net !== order.total_minor) {
      violations.push({
        invariant: 2,
        ...about(row.order_id),
        detail: `confirmed order of ${order.total_minor} nets ${net}`,
      });
    }
  }
  for (const order of orders.filter((candidate) => candidate.status === 'CONFIRMED')) {
    if (!money.some((row) => row.order_id === order.id)) {
      violations.push({
        invariant: 2,
        ...about(order.id),
        detail: 'confirmed order was never charged',
      });
    }
  }

  // 3. Inventory is conserved: available + reserved + sold equals the starting stock.
  const stock = await sql<{ sku: string; available: number; reserved: number; sold: number }>`
    select p.sku, p.stock as available,
      coalesce(sum(r.quantity) filter (where r.state = 'reserved'), 0)::int as reserved,
      coalesce(sum(r.quantity) filter (where r.state = 'sold'), 0)::int as sold
    from products p left join stock_reservations r on r.sku = p.sku
    group by p.sku, p.stock`.execute(db);
  for (const row of stock.rows) {
    const initial = inputs.initialStock[row.sku];
    if (initial !== undefined && row.available + row.reserved + row.sold !== initial) {
      violations.push({
        invariant: 3,
        detail: `${row.sku}: available ${row.available} + reserved ${row.reserved} + sold ${row.sold} != ${initial}`,
      });
    }
  }
  const misplaced = await sql<{ order_id: string; status: string; state: string }>`
    select r.order_id, o.status, r.state from stock_reservations r join orders o on o.id = r.order_id
    where (o.status = 'CONFIRMED' and r.state <> 'sold') or (o.status = 'CANCELLED' and r.state <> 'released')`.execute(
    db,
  );
  for (const row of misplaced.rows) {
    violations.push({
      invariant: 3,
      ...about(row.order_id),
      detail: `${row.status} order holds stock ${row.state}`,
    });
  }

  // 4. Sagas only move along legal transitions, one version at a time.
  const transitions = await db
    .selectFrom('saga_transitions')
    .select(['saga_id', 'version', 'from_status', 'to_status'])
    .orderBy('saga_id')
    .orderBy('version')
    .execute();
  let previous: (typeof transitions)[number] | undefined;
  for (const transition of transitions) {
    const from = transition.from_status ?? 'NEW';
    if (!isLegalTransition(inputs.transitions, from, transition.to_status)) {
      violations.push({
        invariant: 4,
        ...about(transition.saga_id),
        detail: `illegal ${from} -> ${transition.to_status}`,
      });
    }
    const sameSaga = previous?.saga_id === transition.saga_id;
    const expected = sameSaga ? previous!.version + 1 : 1;
    if (transition.version !== expected || (sameSaga && previous!.to_status !== from)) {
      violations.push({
        invariant: 4,
        ...about(transition.saga_id),
        detail: `history breaks at version ${transition.version}`,
      });
    }
    previous = transition;
  }

  // 5. Analytics holds exactly one row per event id after deduplication, for every event.
  const events = await db.selectFrom('outbox').select(['id', 'event', 'sent_at']).execute();
  if (inputs.warehouse) {
    for (const { id, event } of events) {
      const counts = inputs.warehouse.get(id);
      if (counts?.deduplicated !== 1) {
        const envelope = event as unknown as Envelope;
        violations.push({
          invariant: 5,
          orderId: envelope.subject,
          correlationId: envelope.correlationId,
          detail: `event ${id} (${envelope.type}) has ${counts?.deduplicated ?? 0} rows in the dedup view`,
        });
      }
    }
  }

  // 6. The outbox drains to empty when the system is quiet.
  for (const { id, event, sent_at } of events) {
    if (sent_at === null) {
      const envelope = event as unknown as Envelope;
      violations.push({
        invariant: 6,
        orderId: envelope.subject,
        correlationId: envelope.correlationId,
        detail: `event ${id} (${envelope.type}) never published`,
      });
    }
  }

  // 7. Every event of an order carries its correlation id.
  for (const { event } of events) {
    const envelope = event as unknown as Envelope;
    const order = byId.get(envelope.subject);
    if (order && envelope.correlationId !== order.correlation_id) {
      violations.push({
        invariant: 7,
        ...about(order.id),
        detail: `${envelope.type} ${envelope.id} carries correlation id ${envelope.correlationId}`,
      });
    }
  }
  return violations;
}
