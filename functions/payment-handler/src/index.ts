import * as functions from '@google-cloud/functions-framework';
import { topicConsumedBy } from '@orders/events';
import {
  createPaymentHandler,
  createPostgresPaymentStore,
  createSandboxProvider,
} from '@orders/payments';
import { createConsumer, createFunctionResources } from '@orders/runtime';
import { paymentHandlerConfig } from './config';

const name = 'payment-handler';
const config = paymentHandlerConfig();
const { logger, db, openDatabase, outbox, deadLetters } = createFunctionResources(name, config);
// The sandbox stands for a remote provider: a pool of its own, so that its calls never wait
// for a connection held by the handler transactions that are waiting for them.
const providerDb = openDatabase();
/** Exported for tests, which await `sandbox.settled()` before they close the database. */
export const sandbox = createSandboxProvider(providerDb, {
  latencyMs: config.SANDBOX_LATENCY_MS,
  slowCallRate: config.SANDBOX_SLOW_CALL_RATE,
  slowCallMs: config.SANDBOX_SLOW_CALL_MS,
  transientErrorRate: config.SANDBOX_TRANSIENT_ERROR_RATE,
  lateLandingRate: config.SANDBOX_LATE_LANDING_RATE,
  lateLandingMs: config.SANDBOX_LATE_LANDING_MS,
});

functions.cloudEvent(
  'handlePayment',
  createConsumer({
    name,
    topic: topicConsumedBy(name),
    projectId: config.GOOGLE_CLOUD_PROJECT,
    outbox,
    deadLetters,
    logger,
    legacyCurrency: config.LEGACY_CURRENCY,
    handle: createPaymentHandler({
      provider: sandbox,
      store: createPostgresPaymentStore(db, { consumer: name }),
      source: name,
    }),
  }),
);
