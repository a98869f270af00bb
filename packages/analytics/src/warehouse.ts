import type { Envelope } from '@orders/events';
import type { AnalyticsQueryName, AnalyticsRows } from './analytics-queries';

/**
 * Where every domain event ends for analytics: one table with a row per delivered copy,
 * and a view that keeps the first loaded copy of each event id. The reference adapter is
 * `createDuckDbWarehouse` (one file on this machine); `createBigQueryWarehouse` is production.
 */
export interface Warehouse {
  /** Creates the events table and its dedup view when missing; safe to repeat and to race. */
  ensureSchema(): Promise<void>;
  /**
   * Appends one row per event. Loading an event twice is allowed (at-least-once delivery):
   * the dedup view still holds it once.
   * @throws EventsRejectedError for events the warehouse refuses for good (the others are loaded)
   * @throws WarehouseUnavailableError for a failure worth retrying later
   */
  load(events: readonly Envelope[]): Promise<void>;
  /** Runs a named analytics query over the dedup view. */
  query<Q extends AnalyticsQueryName>(name: Q): Promise<AnalyticsRows[Q][]>;
  /** Releases clients and files; the warehouse is not used afterwards. */
  close(): Promise<void>;
}

/**
 * What the checkers and the demo read of a warehouse besides its queries: not part of the
 * port the analytics loader writes through. Both adapters offer it.
 */
export interface WarehouseAudit {
  /** Every loaded event id with its raw and deduplicated row counts (invariant 5). */
  auditEvents(filter?: AuditFilter): Promise<EventLoadAudit[]>;
}

/** A warehouse as its adapters make it: the port, and its audit. */
export type AuditableWarehouse = Warehouse & WarehouseAudit;

export interface AuditFilter {
  /** Only the events of these orders (envelope `subject`). */
  orderIds?: readonly string[];
}

/** What the warehouse holds for one event id. */
export interface EventLoadAudit {
  eventId: string;
  eventType: string;
  orderId: string;
  /** Delivered copies in the table; more than one is normal under at-least-once delivery. */
  rawRows: number;
  /** Rows of this id in the dedup view. */
  viewRows: number;
  /** The invariant: the dedup view holds the event exactly once. */
  exactlyOnce: boolean;
}
