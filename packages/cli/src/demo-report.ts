import { textTable } from '@orders/platform';
import type { DemoSummary } from './demo-summary';
import { type OrderScenario, scenarioShares } from './order-mix';

/** The summary table `pnpm demo` prints on stdout. */
export function formatDemoSummary(summary: DemoSummary): string {
  const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);
  const rows: [string, number | string][] = [
    ['placed', summary.placed],
    ['confirmed', summary.confirmed],
    ['cancelled', summary.cancelled],
    ...Object.entries(summary.cancelledByReason)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, count]): [string, number] => [`  ${reason}`, count]),
    ['needs attention', summary.needsAttention],
    ['pending', summary.pending],
    ['dead-lettered (on the DLQs now)', summary.deadLettered],
    ['placed -> final p50', ms(summary.p50LatencyMs)],
    ['placed -> final p95', ms(summary.p95LatencyMs)],
  ];
  if (summary.notPlaced > 0) rows.splice(1, 0, ['not placed (refused)', summary.notPlaced]);
  const outcomes = textTable(['summary', ''], rows, { rightAligned: [1] });
  const scenarios = textTable(
    ['scenario', 'orders', 'confirmed', 'cancelled', 'attention', 'pending', 'not placed'],
    Object.keys(scenarioShares)
      .flatMap((scenario) => {
        const counts = summary.byScenario[scenario as OrderScenario];
        return counts ? [[scenario, counts] as const] : [];
      })
      .map(([scenario, counts]) => [
        scenario,
        counts.confirmed +
          counts.cancelled +
          counts.needsAttention +
          counts.pending +
          counts.notPlaced,
        counts.confirmed,
        counts.cancelled,
        counts.needsAttention,
        counts.pending,
        counts.notPlaced,
      ]),
  );
  return `${outcomes}\n\n${scenarios}`;
}
