import * as functions from '@google-cloud/functions-framework';
import { createIntakeApi, createPostgresIntakeStore } from '@orders/ordering';
import { createBearerAuth, createFunctionResources, createHttpFunction } from '@orders/runtime';
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
      authenticate: createBearerAuth({
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
        jwksUrl: config.AUTH_JWKS_URL,
        realm: 'orders',
      }),
      maxItems: config.MAX_ORDER_ITEMS,
      maxQuantity: config.MAX_ORDER_QUANTITY,
      maxOpenOrders: config.MAX_OPEN_ORDERS_PER_CUSTOMER,
      openOrdersRetryAfterSeconds: config.OPEN_ORDERS_RETRY_AFTER_SECONDS,
    }),
  }),
);
