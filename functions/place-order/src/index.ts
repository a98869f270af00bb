import * as functions from '@google-cloud/functions-framework';
import { createDb } from '@orders/db';
import { functions as declared } from '@orders/events';
import { createIdempotencyKeyStore, createOutbox } from '@orders/idempotency';
import { createIntakeApi } from '@orders/orders';
import { createPubSubBus, createPubSubClient } from '@orders/pubsub';
import { createHttpFunction, createLogger } from '@orders/runtime';
import { placeOrderConfig } from './config';

const name = 'place-order';
const config = placeOrderConfig();
const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: name } });
const db = createDb(config.DATABASE_URL, {
  maxConnections: config.DB_POOL_SIZE,
  onConnectionError: (error) => logger.warn('database connection lost', { error }),
});
const pubsub = createPubSubClient({
  projectId: config.GOOGLE_CLOUD_PROJECT,
  emulatorHost: config.PUBSUB_EMULATOR_HOST,
});
const outbox = createOutbox(db, createPubSubBus(pubsub), (error, events) =>
  logger.warn('publish failed; the outbox relay will retry', {
    error,
    eventIds: events.map((event) => event.id),
    correlationId: events[0]?.correlationId,
  }),
);

functions.http(
  declared[name].entryPoint,
  createHttpFunction({
    logger,
    projectId: config.GOOGLE_CLOUD_PROJECT,
    maxBodyBytes: config.MAX_BODY_BYTES,
    handle: createIntakeApi({
      db,
      outbox,
      idempotencyKeys: createIdempotencyKeyStore(db, {
        ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
        lockSeconds: config.IDEMPOTENCY_LOCK_SECONDS,
      }),
      source: name,
      maxItems: config.MAX_ORDER_ITEMS,
    }),
  }),
);
