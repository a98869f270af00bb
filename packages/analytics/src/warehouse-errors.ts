/** An event the warehouse refuses for good, with the warehouse's own words. */
export interface RejectedEvent {
  eventId: string;
  /** The warehouse's reason code, e.g. BigQuery's `invalid`. */
  reason: string;
  message: string;
}

/**
 * Some events can never be loaded as they are (BigQuery answered `invalid` for their
 * rows). The other events of the same call were loaded.
 */
export class EventsRejectedError extends Error {
  override readonly name = 'EventsRejectedError';
  constructor(readonly rejected: readonly RejectedEvent[]) {
    super(
      `warehouse rejected ${rejected.length} event(s): ${rejected
        .map((event) => `${event.eventId}: ${event.reason}: ${event.message}`)
        .join('; ')}`,
    );
  }
}

/**
 * The warehouse cannot take the call now (a 5xx, a retryable row error that outlived its
 * retries, another process holding the DuckDB file): try again later. Nothing of the failed
 * events counts twice when retried, since every row carries its event id.
 */
export class WarehouseUnavailableError extends Error {
  override readonly name = 'WarehouseUnavailableError';
}

/** `pnpm analytics <name>` or `query(name)` with a name that is not one of the queries. */
export class UnknownQueryError extends Error {
  override readonly name = 'UnknownQueryError';
  constructor(readonly query: string) {
    super(`unknown analytics query: ${query}`);
  }
}
