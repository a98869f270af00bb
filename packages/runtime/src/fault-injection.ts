import type { Outbox } from '@orders/messaging';
import type { Logger } from '@orders/platform';
import { seededShare } from '@orders/platform';

export interface CrashBeforePublishOptions {
  /** The share of commits after which the process dies before publishing; 0 turns it off. */
  rate: number;
  /** The same seed crashes at the same events: keyed by correlation id and event types. */
  seed: string;
  logger: Logger;
  /** How the process dies; SIGKILL of itself unless a test says otherwise. */
  crash?: () => void;
}

/**
 * Fault injection for `pnpm chaos` and the crash-safety tests, off unless configured: the
 * process is killed after a transaction committed and before its events are published,
 * the one window that only the outbox relay can repair. Never set in production.
 */
export function crashBeforePublish(outbox: Outbox, options: CrashBeforePublishOptions): Outbox {
  const { rate, seed, logger } = options;
  if (rate <= 0) return outbox;
  const crash = options.crash ?? (() => process.kill(process.pid, 'SIGKILL'));
  return {
    ...outbox,
    publishCommitted(events) {
      const first = events[0];
      if (
        first &&
        seededShare(seed, first.correlationId, events.map((e) => e.type).join(',')) < rate
      ) {
        // Written synchronously (stdout is a pipe or a file), so the line survives the kill.
        logger.warn('fault injected: crash between commit and publish', {
          fault: 'crash-before-publish',
          correlationId: first.correlationId,
          eventIds: events.map((event) => event.id),
        });
        crash();
      }
      return outbox.publishCommitted(events);
    },
  };
}
