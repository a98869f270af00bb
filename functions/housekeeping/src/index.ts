import * as functions from '@google-cloud/functions-framework';
import { functions as declared } from '@orders/events';
import { purgeExpiredKeys } from '@orders/idempotency';
import { createOrderSagaEngine, orderSagaConfigSchema, orderSagaOptions } from '@orders/orders';
import { createFunctionResources, createScheduledJob, parseConfig } from '@orders/runtime';
import { z } from 'zod';

const name = 'housekeeping';
const config = parseConfig(
  orderSagaConfigSchema.extend({
    /** Outbox rows younger than this are left to the writer that is publishing them. */
    OUTBOX_RELAY_MIN_AGE_MS: z.coerce.number().int().min(0).default(5_000),
  }),
);
const { logger, db, outbox } = createFunctionResources(name, config);
const sagas = createOrderSagaEngine(db, orderSagaOptions(config));

/**
 * Each tick (Cloud Scheduler, or `pnpm dev`): publish outbox rows a crash left unsent, wake
 * the sagas whose deadline passed, forget expired Idempotency-Keys. Every step is safe to
 * run concurrently with another tick.
 */
functions.cloudEvent(
  declared[name].entryPoint,
  createScheduledJob({
    name,
    projectId: config.GOOGLE_CLOUD_PROJECT,
    logger,
    run: async (log) => {
      const relayed = await outbox.relay({ minAgeMs: config.OUTBOX_RELAY_MIN_AGE_MS });
      const deadlines = await sagas.wakeDue({ outbox, log });
      return {
        relayed,
        sagasWoken: deadlines.woken,
        sagasFailed: deadlines.failed,
        keysPurged: await purgeExpiredKeys(db),
      };
    },
  }),
);
