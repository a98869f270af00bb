import type { DomainEvent } from '@orders/events';
import type { Logger } from '@orders/platform';
import { UnprocessableEventError } from '@orders/runtime';
import type { Warehouse } from './warehouse';
import { EventsRejectedError } from './warehouse-errors';

/**
 * The analytics-loader's handler: one delivery, one event, one load. An event the warehouse
 * refuses for good is unprocessable (the consumer dead-letters it with the warehouse's
 * reason); any other failure propagates, so that Pub/Sub redelivers. No inbox is needed:
 * the load is keyed by event id and the dedup view keeps one row per id.
 */
export function createAnalyticsLoadHandler(warehouse: Warehouse) {
  return async (event: DomainEvent, { log }: { log: Logger }): Promise<void> => {
    try {
      await warehouse.load([event]);
    } catch (error) {
      if (!(error instanceof EventsRejectedError)) throw error;
      const [rejected] = error.rejected;
      throw new UnprocessableEventError(
        `warehouse rejected the event: ${rejected?.reason}: ${rejected?.message}`,
      );
    }
    log.debug('event loaded into the warehouse');
  };
}
