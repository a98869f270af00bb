import * as functions from '@google-cloud/functions-framework';
import { createIntakeApi, createPostgresIntakeStore } from '@orders/ordering';
import { createFunctionResources, createHttpFunction } from '@orders/runtime';
import { placeOrderConfig } from './config';

const name = 'place-order';
const config = placeOrderConfig();
const { logger, db, outbox } = createFunctionResources(name, config);

functions.http(
  'placeOrder',
  createHttpFunction({
    logger,
    projectId: config.GOOGLE_CLOUD_PROJECT,
    maxBodyBytes: config.MAX_BODY_BYTES,
    handle: createIntakeApi({
      db,
      outbox,
      store: createPostgresIntakeStore(db, {
        ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
        lockSeconds: config.IDEMPOTENCY_LOCK_SECONDS,
      }),
      source: name,
      maxItems: config.MAX_ORDER_ITEMS,
    }),
  }),
);
