import type { ColumnType, JSONColumnType } from 'kysely';

/** Column types of every table, as kysely sees them. Money columns are integer minor units. */
export interface Database {
  products: ProductsTable;
  orders: OrdersTable;
  order_items: OrderItemsTable;
  processed_events: ProcessedEventsTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeysTable;
  stock_reservations: StockReservationsTable;
  sagas: SagasTable;
  saga_transitions: SagaTransitionsTable;
  payments: PaymentsTable;
  order_redrives: OrderRedrivesTable;
}

type CreatedAt = ColumnType<Date, Date | undefined, never>;

interface ProductsTable {
  sku: string;
  name: string;
  price_minor: number;
  currency: string;
  stock: number;
  created_at: CreatedAt;
}

export type OrderStatus =
  | 'PLACED'
  | 'AWAITING_PAYMENT'
  | 'CONFIRMED'
  | 'CANCELLED'
  | 'NEEDS_ATTENTION';

interface OrdersTable {
  id: string;
  customer_id: string;
  currency: string;
  total_minor: number;
  status: OrderStatus;
  cancel_reason: string | null;
  correlation_id: string;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

interface OrderItemsTable {
  order_id: string;
  sku: string;
  quantity: number;
  unit_price_minor: number;
}

interface ProcessedEventsTable {
  consumer: string;
  event_id: string;
  processed_at: CreatedAt;
}

interface OutboxTable {
  /** The event id. */
  id: string;
  /** The whole envelope. */
  event: JSONColumnType<Record<string, unknown>>;
  /**
   * The function that wrote it (`producers` of @orders/events): the relay publishes only
   * types it may emit. Null only in a row written without one, which the relay sets aside.
   */
  producer: string | null;
  /**
   * The W3C traceparent of the work that wrote it, which its messages carry in
   * `googclient_traceparent`; null in rows written before 0013 or outside traced work.
   */
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the row was inserted (clock_timestamp(), not its transaction's start). */
  created_at: CreatedAt;
  /**
   * When the row was last handed back to the relay after it stopped owing it (released from
   * set-aside, or marked unsent again by a re-drive or a replay); null: owed since created_at.
   */
  requeued_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Set once every topic of its type's routes has taken the event. */
  sent_at: Date | null;
  /** While unsent: the topics of its routes that have taken it (the relay leaves them out). */
  published_topics: ColumnType<string[], string[] | undefined, string[]>;
  /** Relay attempts a route refused, the last refusal, and when the relay tries again. */
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  next_attempt_at: Date | null;
  /**
   * A row that can never be published (no producer, an invalid envelope, a type its producer
   * may not emit): the relay skips it.
   */
  set_aside_at: Date | null;
  set_aside_reason: string | null;
}

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  /** The JSON body as sent, so that a replay is the same bytes. */
  body: string;
}

interface IdempotencyKeysTable {
  scope: string;
  key: string;
  /** sha256 of the request, so the same key with another body is refused. */
  fingerprint: string;
  status: 'in_flight' | 'completed';
  /** The request holding an in-flight key; another may take it over after `locked_until`. */
  lock_token: string | null;
  locked_until: Date | null;
  response: JSONColumnType<StoredResponse> | null;
  created_at: CreatedAt;
  expires_at: Date;
}

interface StockReservationsTable {
  order_id: string;
  sku: string;
  quantity: number;
  state: 'reserved' | 'sold' | 'released';
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

interface SagasTable {
  id: string;
  type: string;
  status: string;
  version: number;
  /** The version of the saga definition that saved it. */
  definition_version: ColumnType<number, number | undefined, number>;
  state: JSONColumnType<Record<string, unknown>>;
  deadline_at: Date | null;
  correlation_id: string;
  failed_attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  /**
   * The W3C trace context of the work that last moved the saga: a deadline or a retry moves
   * it in that trace (0015); null when last moved before 0015 or outside traced work.
   */
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

interface SagaTransitionsTable {
  saga_id: string;
  version: number;
  from_status: string | null;
  to_status: string;
  cause_type: string;
  cause_event_id: string | null;
  note: string | null;
  /** The events this transition emitted (their outbox rows). */
  emitted_event_ids: ColumnType<string[], string[] | undefined, string[]>;
  at: CreatedAt;
}

interface PaymentsTable {
  payment_id: string;
  order_id: string;
  /** Null when the payment was voided before any request for it arrived. */
  customer_id: string | null;
  amount_minor: number;
  currency: string;
  status: 'charged' | 'declined' | 'voided' | 'refunded';
  provider_ref: string | null;
  failure_reason: string | null;
  refund_id: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** Re-drives of an order whose OrderPlaced never reached its saga (housekeeping, `pnpm sagas redrive`). */
interface OrderRedrivesTable {
  order_id: string;
  attempts: number;
  last_redriven_at: Date;
}
