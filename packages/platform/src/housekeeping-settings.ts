import { z } from 'zod';

/**
 * The shortest a claim may be kept, in days: Pub/Sub keeps a message it could not deliver 7
 * days on its subscription, then a dead letter 7 days on its `<topic>-dlq` subscription,
 * from which `pnpm dlq replay` publishes it again; and a day for that replay to be handled.
 */
const minimumClaimDays = 15;

/**
 * When a saga counts as overdue: read by housekeeping's gauge (and its alert), `pnpm sagas
 * list --overdue` and the sagas line of `pnpm sagas list` and `pnpm demo`.
 */
export const sagaOverdueSettingsSchema = z.object({
  /**
   * A saga whose deadline passed this long ago is overdue: housekeeping's sweep (each
   * minute) should have woken it by then.
   */
  SAGA_OVERDUE_SECONDS: z.coerce.number().positive().default(300),
});

/**
 * housekeeping's own settings, with their defaults and rules: what the function reads
 * (functions/housekeeping/src/config.ts, with the database's and the order saga's), and what
 * `pnpm run deploy` checks before it passes the ones its environment sets.
 */
export const housekeepingSettingsSchema = z
  .object({
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
    ...sagaOverdueSettingsSchema.shape,
    /** At most one set of gauge lines this often (each tick in production, once a minute). */
    GAUGE_INTERVAL_SECONDS: z.coerce.number().min(0).default(50),
    /**
     * Inbox claims (`processed_events`) are kept this long: a claim must outlive every
     * redelivery of its event, or the event is handled a second time.
     */
    RETENTION_PROCESSED_EVENTS_DAYS: z.coerce
      .number()
      .min(
        minimumClaimDays,
        `must be at least ${minimumClaimDays} days: a claim must outlive every redelivery of its event (7 days on its subscription, 7 on the dead-letter queue, then a replay)`,
      )
      .default(30),
    /** Sent outbox rows are kept this long (a stalled order's OrderPlaced until it has its saga). */
    RETENTION_SENT_OUTBOX_DAYS: z.coerce.number().min(1).default(7),
    /** The history of a saga at rest (confirmed, or cancelled and owed nothing) is kept this long after its last move. */
    RETENTION_SAGA_HISTORY_DAYS: z.coerce.number().min(1).default(90),
    /** Rows per retention statement. */
    RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
    /** The most rows a tick deletes from each table; the rest wait for the next tick. */
    RETENTION_MAX_ROWS: z.coerce.number().int().min(1).default(20_000),
  })
  .refine((env) => env.RETENTION_SENT_OUTBOX_DAYS <= env.RETENTION_PROCESSED_EVENTS_DAYS, {
    // Checked even when other settings are bad, so that one run names every problem.
    when: () => true,
    path: ['RETENTION_SENT_OUTBOX_DAYS'],
    // A sent row may be published again (a stalled order's re-drive): its consumers' claims
    // must still be there to know it, or it is handled twice.
    message:
      'must not exceed RETENTION_PROCESSED_EVENTS_DAYS: a row published again after its claims are gone would be handled twice',
  });
