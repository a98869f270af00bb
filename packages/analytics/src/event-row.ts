import type { Envelope } from '@orders/events';

/** One row of the events table: one delivered copy of one event. */
export interface EventRow {
  event_id: string;
  event_type: string;
  event_version: number;
  source: string;
  /** UTC, ISO 8601 with milliseconds and `Z`. */
  occurred_at: string;
  /** The UTC day of `occurred_at`, `YYYY-MM-DD`: the table's partition. */
  event_date: string;
  /** The envelope's `subject`. */
  order_id: string;
  correlation_id: string;
  causation_id: string | null;
  /** The event's data as JSON text. */
  data: string;
  /** UTC, ISO 8601: when this copy was loaded; the first loaded copy is the one the view keeps. */
  loaded_at: string;
}

export function toEventRow(event: Envelope, loadedAt: Date): EventRow {
  const occurredAt = new Date(event.occurredAt).toISOString();
  return {
    event_id: event.id,
    event_type: event.type,
    event_version: event.version,
    source: event.source,
    occurred_at: occurredAt,
    event_date: occurredAt.slice(0, 10),
    order_id: event.subject,
    correlation_id: event.correlationId,
    causation_id: event.causationId,
    data: JSON.stringify(event.data),
    loaded_at: loadedAt.toISOString(),
  };
}
