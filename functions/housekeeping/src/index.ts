import * as functions from '@google-cloud/functions-framework';
import { functions as declared } from '@orders/events';
import { purgeExpiredKeys, type RelayReport } from '@orders/idempotency';
import { createOrderSagaEngine, orderSagaConfigSchema, orderSagaOptions } from '@orders/orders';
import {
  createFunctionResources,
  createScheduledJob,
  type Logger,
  parseConfig,
} from '@orders/runtime';
import { z } from 'zod';

const name = 'housekeeping';
const config = parseConfig(
  orderSagaConfigSchema.extend({
    /** Outbox rows younger than this are left to the writer that is publishing them. */
    OUTBOX_RELAY_MIN_AGE_MS: z.coerce.number().int().min(0).default(5_000),
    /** The most outbox rows one tick's relay handles. */
    OUTBOX_RELAY_MAX_ROWS: z.coerce.number().int().min(1).default(1_000),
    /** The longest an outbox row that a route refused waits before the relay tries it again. */
    OUTBOX_RELAY_MAX_BACKOFF_SECONDS: z.coerce.number().positive().default(300),
  }),
);
const { logger, db, outbox } = createFunctionResources(name, config);
const sagas = createOrderSagaEngine(db, orderSagaOptions(config));

/**
 * Each tick (Cloud Scheduler, or `pnpm dev`), independent steps: publish what outbox rows
 * still owe, wake the sagas whose deadline passed, forget expired Idempotency-Keys. Every
 * step is safe to run concurrently with another tick.
 */
functions.cloudEvent(
  declared[name].entryPoint,
  createScheduledJob({
    name,
    projectId: config.GOOGLE_CLOUD_PROJECT,
    logger,
    steps: {
      relayed: async (log) =>
        reportRelay(
          await outbox.relay({
            minAgeMs: config.OUTBOX_RELAY_MIN_AGE_MS,
            maxRows: config.OUTBOX_RELAY_MAX_ROWS,
            maxBackoffMs: config.OUTBOX_RELAY_MAX_BACKOFF_SECONDS * 1000,
          }),
          log,
        ),
      deadlines: (log) => sagas.wakeDue({ outbox, log }),
      keysPurged: () => purgeExpiredKeys(db),
    },
  }),
);

/** Logs what an operator must see of a relay run; returns its summary for the tick's line. */
function reportRelay(report: RelayReport, log: Logger) {
  for (const route of report.failingRoutes) {
    log.error('outbox route failing', { ...route });
  }
  for (const row of report.setAside) {
    log.error('outbox row set aside: it can never be published', {
      eventId: row.id,
      eventType: row.type,
      reason: row.reason,
      ...(row.correlationId ? { correlationId: row.correlationId } : {}),
    });
  }
  return {
    sent: report.sent,
    copies: report.copies,
    deferred: report.deferred,
    failingRoutes: report.failingRoutes.map((route) => route.topic),
    setAside: report.setAside.length,
  };
}
