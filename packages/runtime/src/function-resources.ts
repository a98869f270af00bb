import { createDb, type Database } from '@orders/db';
import type { DeadLetters } from '@orders/events';
import {
  createOutbox,
  createPublisher,
  createPubSubBus,
  createPubSubDeadLetters,
  type Outbox,
} from '@orders/messaging';
import { createLogger, type Logger } from '@orders/platform';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { databaseConfigSchema } from './config';
import { crashBeforePublish } from './fault-injection';

/**
 * What a function with a database builds once per instance, at start: its logger, a pool,
 * one Pub/Sub publisher, the outbox publishing through it, and dead letters. Failures of the pool and of publishing after commit are logged, never thrown at a
 * request.
 */
export interface FunctionResources {
  logger: Logger;
  db: Kysely<Database>;
  /** Another pool with the same settings, for a client that must not share one. */
  openDatabase(): Kysely<Database>;
  outbox: Outbox;
  deadLetters: DeadLetters;
}

export function createFunctionResources(
  name: string,
  config: z.output<typeof databaseConfigSchema>,
): FunctionResources {
  const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: name } });
  // Validated by the schema: a Cloud SQL instance comes with its user and database.
  const location = config.CLOUD_SQL_INSTANCE
    ? {
        instanceConnectionName: config.CLOUD_SQL_INSTANCE,
        user: config.DB_USER ?? '',
        database: config.DB_NAME ?? '',
      }
    : (config.DATABASE_URL ?? '');
  const openDatabase = () =>
    createDb(location, {
      maxConnections: config.DB_POOL_SIZE,
      onConnectionError: (error) => logger.warn('database connection lost', { error }),
    });
  const db = openDatabase();
  const publisher = createPublisher({
    projectId: config.GOOGLE_CLOUD_PROJECT,
    emulatorHost: config.PUBSUB_EMULATOR_HOST,
  });
  const outbox = crashBeforePublish(
    createOutbox(db, createPubSubBus(publisher), (error, events, topic) =>
      logger.warn('publish failed; the outbox relay will retry', {
        error,
        ...(topic ? { topic } : {}),
        eventIds: events.map((event) => event.id),
        correlationId: events[0]?.correlationId,
      }),
    ),
    { rate: config.FAULT_CRASH_BEFORE_PUBLISH_RATE, seed: config.FAULT_SEED, logger },
  );
  return { logger, db, openDatabase, outbox, deadLetters: createPubSubDeadLetters(publisher) };
}
