import { readOutboxGauges } from '@orders/messaging';
import { readSagaGauges } from '@orders/ordering';
import type { Logger } from '@orders/platform';

/**
 * The tick's gauge step: logs the gauges unless it did less than `intervalSeconds` ago in
 * this instance (Cloud Scheduler ticks every minute, `pnpm dev` every 5 s: its terminal
 * gets them once a minute too).
 */
export function gaugeStep(
  db: Parameters<typeof readOutboxGauges>[0],
  options: { overdueGraceSeconds: number; intervalSeconds: number },
): (log: Logger) => Promise<void> {
  let lastLoggedAt: number | undefined;
  return async (log) => {
    const now = performance.now();
    if (lastLoggedAt !== undefined && now - lastLoggedAt < options.intervalSeconds * 1000) return;
    lastLoggedAt = now;
    await logGauges(db, log, options);
  };
}

/**
 * Logs one line per gauge whatever the tick did and whatever LOG_LEVEL says (a metric line,
 * at INFO), with the fields `gauge` and `value` (and `status` for sagas_waiting): the
 * log-based metrics of infra/monitoring.tf read them (a test holds the two together), and a
 * gauge with nothing to count reports 0.
 */
async function logGauges(
  db: Parameters<typeof readOutboxGauges>[0],
  log: Logger,
  { overdueGraceSeconds }: { overdueGraceSeconds: number },
): Promise<void> {
  const [outbox, sagas] = await Promise.all([
    readOutboxGauges(db),
    readSagaGauges(db, { overdueGraceSeconds }),
  ]);
  const gauge = (name: string, value: number, fields: Record<string, string> = {}) =>
    log.metric('housekeeping gauge', { gauge: name, value, ...fields });
  gauge('outbox_unsent', outbox.unsent);
  gauge('outbox_oldest_unsent_age_seconds', outbox.oldestUnsentAgeSeconds);
  gauge('outbox_set_aside', outbox.setAside);
  gauge('sagas_overdue', sagas.overdue);
  gauge('sagas_needing_attention', sagas.needingAttention);
  for (const [status, count] of Object.entries(sagas.waitingByStatus)) {
    gauge('sagas_waiting', count, { status });
  }
}
