import * as functions from '@google-cloud/functions-framework';
import { topicConsumedBy } from '@orders/events';
import {
  createPaymentHandler,
  createPostgresPaymentStore,
  createSandboxProvider,
  createStripeProvider,
} from '@orders/payments';
import { createConsumer, createFunctionResources } from '@orders/runtime';
import { paymentHandlerConfig } from './config';

const name = 'payment-handler';
const config = paymentHandlerConfig();
const { logger, db, openDatabase, outbox, deadLetters } = createFunctionResources(name, config);

/**
 * The sandbox, when it is the provider (PAYMENT_PROVIDER=sandbox). It stands for a remote
 * provider: a pool of its own, so that its calls never wait for a connection held by the
 * handler transactions that are waiting for them. Exported for tests, which await
 * `sandbox.settled()` before they close the database.
 */
export const sandbox =
  config.PAYMENT_PROVIDER === 'sandbox'
    ? createSandboxProvider(openDatabase(), {
        latencyMs: config.SANDBOX_LATENCY_MS,
        slowCallRate: config.SANDBOX_SLOW_CALL_RATE,
        slowCallMs: config.SANDBOX_SLOW_CALL_MS,
        transientErrorRate: config.SANDBOX_TRANSIENT_ERROR_RATE,
        lateLandingRate: config.SANDBOX_LATE_LANDING_RATE,
        lateLandingMs: config.SANDBOX_LATE_LANDING_MS,
      })
    : undefined;

const provider =
  sandbox ??
  createStripeProvider({
    // Present with PAYMENT_PROVIDER=stripe: the configuration refuses to start without it.
    secretKey: config.STRIPE_SECRET_KEY ?? '',
    apiUrl: config.STRIPE_API_URL,
    timeoutMs: config.STRIPE_TIMEOUT_MS,
  });
logger.info('payment provider chosen', { provider: config.PAYMENT_PROVIDER });

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
      provider,
      store: createPostgresPaymentStore(db, { consumer: name }),
      source: name,
    }),
  }),
);
