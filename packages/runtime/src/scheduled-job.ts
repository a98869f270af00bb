import type { CloudEvent } from '@google-cloud/functions-framework';
import { runInTrace } from '@orders/messaging';
import { type Logger, messageOf, parseTraceContext, traceFields } from '@orders/platform';
import { processTracing } from './tracing';

/**
 * The wrapper of a function that Cloud Scheduler triggers through a topic: the message is
 * only a tick, so there is nothing to decode. The steps are independent and run together:
 * each runs whatever the others do, a step that fails is logged at error and reported as
 * failed, and the tick is acknowledged all the same (the next tick tries again; a tick
 * redelivered with backoff would only pile up on the schedule). A run logs what each step
 * reports. A tick is a span of the scheduler's trace: what its steps write runs in it, except
 * the outbox relay's messages, which continue the trace of the work that wrote each row.
 */
export function createScheduledJob({
  name,
  projectId,
  logger,
  steps,
}: {
  name: string;
  projectId: string;
  logger: Logger;
  steps: Record<string, (log: Logger) => Promise<unknown>>;
}) {
  // Made at start: a bad OTEL_ setting fails the instance, not each request.
  const tracing = processTracing(projectId);
  return async (cloudEvent: CloudEvent<unknown>): Promise<void> => {
    const work = tracing.start(name, parseTraceContext({ traceparent: cloudEvent.traceparent }));
    const log = logger.child({ job: name, ...traceFields(work.trace, projectId) });
    const started = performance.now();
    const names = Object.keys(steps);
    const results = await runInTrace(work.trace, () =>
      Promise.allSettled(names.map((step) => steps[step]!(log))),
    );
    const report: Record<string, unknown> = {};
    results.forEach((result, index) => {
      const step = names[index]!;
      if (result.status === 'fulfilled') {
        report[step] = result.value;
        return;
      }
      log.error(`${name} step ${step} failed; the next tick tries again`, {
        step,
        error: result.reason,
      });
      report[step] = { failed: messageOf(result.reason) };
    });
    // A tick that found nothing to do is only worth a debug line.
    const failed = results.some((result) => result.status === 'rejected');
    log[failed ? 'warn' : worked(report) ? 'info' : 'debug'](`${name} done`, {
      ...report,
      durationMs: Math.round(performance.now() - started),
    });
    work.end(failed ? `${name}: a step failed` : undefined);
    await tracing.flush(log);
  };
}

/** Whether a report counts anything done: a positive number or a non-empty list anywhere. */
function worked(value: unknown): boolean {
  if (typeof value === 'number') return value > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object' && value !== null) return Object.values(value).some(worked);
  return false;
}
