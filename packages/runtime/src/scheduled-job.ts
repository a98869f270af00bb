import type { CloudEvent } from '@google-cloud/functions-framework';
import { RedeliveryRequestedError } from './consumer';
import { type Logger, traceFields } from './logger';
import { isRetryable } from './retryable';

/**
 * The wrapper of a function that Cloud Scheduler triggers through a topic: the message is
 * only a tick, so there is nothing to decode. A run logs what `run` reports; a failure
 * answers 500 so that Pub/Sub delivers the tick again.
 */
export function createScheduledJob({
  name,
  projectId,
  logger,
  run,
}: {
  name: string;
  projectId: string;
  logger: Logger;
  run(log: Logger): Promise<Record<string, unknown>>;
}) {
  return async (cloudEvent: CloudEvent<unknown>): Promise<void> => {
    const log = logger.child({
      job: name,
      ...traceFields({ traceparent: cloudEvent.traceparent }, projectId),
    });
    const started = performance.now();
    try {
      const report = await run(log);
      // A tick that found nothing to do is only worth a debug line.
      const worked = Object.values(report).some((value) => typeof value === 'number' && value > 0);
      log[worked ? 'info' : 'debug'](`${name} done`, {
        ...report,
        durationMs: Math.round(performance.now() - started),
      });
    } catch (error) {
      log[isRetryable(error) ? 'warn' : 'error'](`${name} failed; Pub/Sub will redeliver`, {
        error,
      });
      throw new RedeliveryRequestedError(error);
    }
  };
}
