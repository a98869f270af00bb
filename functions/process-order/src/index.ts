import * as functions from '@google-cloud/functions-framework';
import { topicConsumedBy } from '@orders/events';
import {
  createOrderSagaEngine,
  orderSagaConfigSchema,
  orderSagaHandler,
  orderSagaOptions,
} from '@orders/ordering';
import { createConsumer, createFunctionResources, parseConfig } from '@orders/runtime';

const name = 'process-order';
const config = parseConfig(orderSagaConfigSchema);
const { logger, db, outbox, deadLetters } = createFunctionResources(name, config);

functions.cloudEvent(
  'processOrder',
  createConsumer({
    name,
    topic: topicConsumedBy(name),
    projectId: config.GOOGLE_CLOUD_PROJECT,
    outbox,
    deadLetters,
    logger,
    legacyCurrency: config.LEGACY_CURRENCY,
    handle: orderSagaHandler(createOrderSagaEngine(db, orderSagaOptions(config))),
  }),
);
