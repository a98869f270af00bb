import * as functions from '@google-cloud/functions-framework';
import { createAnalyticsLoadHandler, describeWarehouse, openWarehouse } from '@orders/analytics';
import { topicConsumedBy } from '@orders/events';
import { createPublisher, createPubSubDeadLetters } from '@orders/messaging';
import { createLogger } from '@orders/platform';
import { createConsumer } from '@orders/runtime';
import { analyticsLoaderConfig } from './config';

const name = 'analytics-loader';
const config = analyticsLoaderConfig();
const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: name } });
const publisher = createPublisher({
  projectId: config.GOOGLE_CLOUD_PROJECT,
  emulatorHost: config.PUBSUB_EMULATOR_HOST,
});
logger.info('loading events into the warehouse', { warehouse: describeWarehouse(config) });

functions.cloudEvent(
  'loadAnalytics',
  createConsumer({
    name,
    topic: topicConsumedBy(name),
    projectId: config.GOOGLE_CLOUD_PROJECT,
    deadLetters: createPubSubDeadLetters(publisher),
    logger,
    legacyCurrency: config.LEGACY_CURRENCY,
    handle: createAnalyticsLoadHandler(openWarehouse(config)),
  }),
);
