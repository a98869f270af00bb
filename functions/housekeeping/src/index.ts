import * as functions from '@google-cloud/functions-framework';
import type { RelayReport } from '@orders/messaging';
import {
  createOrderSagaEngine,
  orderSagaConfigSchema,
  orderSagaOptions,
  purgeExpiredKeys,
  redriveStalledOrders,
  type StalledOrdersReport,
} from '@orders/ordering';
import type { Logger } from '@orders/platform';
import { createFunctionResources, createScheduledJob, parseConfig } from '@orders/runtime';
import { z } from 'zod';
import { gaugeStep } from './gauges';

const name = 'housekeeping';
const config = parseConfig(
  orderSagaConfigSchema.extend({
    /** Outbox rows younger than this are left to the writer that is publishing them. */
    OUTBOX_RELAY_MIN_AGE_MS: z.coerce.number().int().min(0).default(5_000),
    /** The most outbox rows one tick's relay handles. */
    OUTBOX_RELAY_MAX_ROWS: z.coerce.number().int().min(1).default(1_000),
    /** The longest an outbox row that a route refused waits before the relay tries it again. */
    OUTBOX_RELAY_MAX_BACKOFF_SECONDS: z.coerce.number().positive().default(300),
    /** An order PLACED this long ago with no saga is driven again (its OrderPlaced, to the saga). */
    STALLED_ORDER_SECONDS: z.coerce.number().positive().default(900),
    /** Re-drives of a stalled order, STALLED_ORDER_SECONDS apart, before it is left to an operator. */
    MAX_ORDER_REDRIVES: z.coerce.number().int().min(1).default(3),
    /** A saga whose deadline passed this long ago counts as overdue in the tick's gauges. */
    SAGA_OVERDUE_SECONDS: z.coerce.number().positive().default(300),
    /** At most one set of gauge lines this often (each tick in production, once a minute). */
    GAUGE_INTERVAL_SECONDS: z.coerce.number().min(0).default(50),
  }),
);
const { logger, db, outbox } = createFunctionResources(name, config);
const sagas = createOrderSagaEngine(db, orderSagaOptions(config));

/**
 * Each tick (Cloud Scheduler, or `pnpm dev`), independent steps: publish what outbox rows
 * still owe, wake the sagas whose deadline passed, forget expired Idempotency-Keys, drive
 * again the orders whose OrderPlaced never reached the saga, and log the gauges an operator
 * watches (./gauges.ts). Every step is safe to run concurrently with another tick.
 */
functions.cloudEvent(
  'runHousekeeping',
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
      deadlines: (log) =>
        sagas.wakeDue({ log, committed: (events) => outbox.publishCommitted(events) }),
      keysPurged: () => purgeExpiredKeys(db),
      stalledOrders: async (log) =>
        reportRedrives(
          await redriveStalledOrders(db, {
            stalledSeconds: config.STALLED_ORDER_SECONDS,
            maxRedrives: config.MAX_ORDER_REDRIVES,
          }),
          log,
        ),
      gauges: gaugeStep(db, {
        sagaOverdueSeconds: config.SAGA_OVERDUE_SECONDS,
        intervalSeconds: config.GAUGE_INTERVAL_SECONDS,
      }),
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
      producer: row.producer ?? null,
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

/** Logs each re-drive, and the stalled orders left for an operator (every tick); returns counts. */
function reportRedrives({ redriven, leftForOperator }: StalledOrdersReport, log: Logger) {
  for (const { orderId, correlationId, eventId, redrives } of redriven) {
    if (eventId) {
      log.warn('stalled order re-driven: its OrderPlaced goes to order-saga again', {
        orderId,
        correlationId,
        eventId,
        redrives,
      });
    } else {
      log.error('stalled order cannot be re-driven: the outbox holds no OrderPlaced to publish', {
        orderId,
        correlationId,
        redrives,
      });
    }
  }
  if (leftForOperator.length > 0) {
    const shown = leftForOperator.slice(0, 20);
    log.warn('stalled orders left for an operator', {
      count: leftForOperator.length,
      maxRedrives: config.MAX_ORDER_REDRIVES,
      orderIds: shown.map((order) => order.orderId),
      correlationIds: shown.map((order) => order.correlationId),
      hint: 'pnpm sagas stalled; pnpm sagas redrive <orderId>',
    });
  }
  return { redriven: redriven.length, leftForOperator: leftForOperator.length };
}
