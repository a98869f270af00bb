import * as functions from '@google-cloud/functions-framework';
import type { RelayReport } from '@orders/messaging';
import {
  createOrderSagaEngine,
  orderSagaOptions,
  type Purge,
  purgeClaims,
  purgeKeys,
  purgeRestingSagaHistory,
  purgeSentOutbox,
  redriveStalledOrders,
  type StalledOrdersReport,
} from '@orders/ordering';
import type { Logger } from '@orders/platform';
import { createFunctionResources, createScheduledJob, runInSpan } from '@orders/runtime';
import { housekeepingConfig } from './config';
import { gaugeStep } from './gauges';

const name = 'housekeeping';
const daySeconds = 86_400;
const config = housekeepingConfig();
const { logger, db, outbox } = createFunctionResources(name, config);
const sagas = createOrderSagaEngine(db, orderSagaOptions(config));
const batches = { batchSize: config.RETENTION_BATCH_SIZE, maxRows: config.RETENTION_MAX_ROWS };

/**
 * Each tick (Cloud Scheduler, or `pnpm dev`), independent steps: publish what outbox rows
 * still owe, wake the sagas whose deadline passed, drive again the orders whose OrderPlaced
 * never reached the saga, and delete what is past its retention window (inbox claims, sent
 * outbox rows, the history of sagas at rest, expired Idempotency-Keys), and log the gauges an
 * operator watches (./gauges.ts). Every step is safe to run concurrently with another tick.
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
      // Each saga wakes in its order's trace (the one it was last moved in), not the tick's;
      // one last moved before sagas kept their trace (migration 0015), in the tick's.
      deadlines: (log) =>
        sagas.wakeDue({
          log,
          committed: (events) => outbox.publishCommitted(events),
          within: (saga, wake) =>
            saga.trace
              ? runInSpan('saga deadline', saga.trace, config.GOOGLE_CLOUD_PROJECT, wake)
              : wake({}),
        }),
      claimsPurged: async (log) =>
        reportPurge(
          'processed_events',
          await purgeClaims(db, {
            olderThanSeconds: config.RETENTION_PROCESSED_EVENTS_DAYS * daySeconds,
            ...batches,
          }),
          log,
        ),
      sentRowsPurged: async (log) =>
        reportPurge(
          'outbox',
          await purgeSentOutbox(db, {
            olderThanSeconds: config.RETENTION_SENT_OUTBOX_DAYS * daySeconds,
            ...batches,
          }),
          log,
        ),
      historyPurged: async (log) =>
        reportPurge(
          'saga_transitions',
          await purgeRestingSagaHistory(db, {
            olderThanSeconds: config.RETENTION_SAGA_HISTORY_DAYS * daySeconds,
            ...batches,
          }),
          log,
        ),
      keysPurged: async (log) => reportPurge('idempotency_keys', await purgeKeys(db, batches), log),
      stalledOrders: async (log) =>
        reportRedrives(
          await redriveStalledOrders(db, {
            stalledSeconds: config.STALLED_ORDER_SECONDS,
            maxRedrives: config.MAX_ORDER_REDRIVES,
          }),
          log,
        ),
      gauges: gaugeStep(db, {
        overdueGraceSeconds: config.SAGA_OVERDUE_SECONDS,
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

/** Warns when a table's retention stopped at its cap (it is falling behind); returns the count. */
function reportPurge(table: string, { deleted, capped }: Purge, log: Logger): number {
  if (capped) {
    log.warn('retention stopped at RETENTION_MAX_ROWS: more rows may be due', {
      table,
      deleted,
      hint: 'if this lasts, raise RETENTION_MAX_ROWS (or tick more often)',
    });
  }
  return deleted;
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
