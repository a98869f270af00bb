import type { ChaosReport } from './chaos-run';

/** What `--json` prints: one object, the issue's fields first. */
export function chaosJson(report: ChaosReport): string {
  const {
    orders,
    faults,
    confirmed,
    cancelled,
    needsAttention,
    pending,
    deadLettered,
    violations,
  } = report;
  return JSON.stringify({
    orders,
    faults,
    confirmed,
    cancelled,
    needsAttention,
    pending,
    deadLettered,
    violations,
    seed: report.seed,
    durationMs: report.durationMs,
  });
}

export function chaosText(report: ChaosReport): string {
  const width = Math.max(...Object.keys(report.faults).map((kind) => kind.length));
  const lines = [
    `chaos run: ${report.orders} orders, seed ${report.seed}, ${Math.round(report.durationMs / 1000)} s`,
    'faults injected:',
    ...Object.entries(report.faults).map(
      ([kind, n]) => `  ${kind.padEnd(width)}  ${String(n).padStart(6)}`,
    ),
    `orders: ${report.confirmed} confirmed, ${report.cancelled} cancelled, ${report.needsAttention} needs attention, ${report.pending} pending`,
    `dead-lettered: ${report.deadLettered}`,
  ];
  if (report.violations.length === 0) lines.push('violations: none');
  else {
    lines.push(`violations: ${report.violations.length}`);
    for (const v of report.violations) {
      const about = [
        v.orderId && `order ${v.orderId}`,
        v.correlationId && `correlation ${v.correlationId}`,
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(`  ${v.check}${about ? ` (${about})` : ''}: ${v.detail}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
