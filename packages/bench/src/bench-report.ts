import { textTable } from '@orders/platform';
import type { Measure } from './measure';

/** The `--json` report: exactly one object, `{"measures": [...]}`. */
export function benchJson(measures: readonly Measure[]): string {
  return JSON.stringify({ measures });
}

/** The text report: one row per measure, then the benchmarks that failed, if any. */
export function benchText(measures: readonly Measure[], failed: readonly string[]): string {
  const header = ['name', 'figure', 'unit', 'baseline', 'ratio', 'note'];
  const rows = measures.map((m) => [
    m.name,
    formatNumber(m.figure),
    m.unit,
    formatNumber(m.baseline),
    formatNumber(m.ratio),
    m.note ?? '',
  ]);
  const failures = failed.map((name) => `FAILED: ${name} (see the log above)`);
  return `${[textTable(header, rows, { rightAligned: [1, 3, 4] }), ...failures].join('\n')}\n`;
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}
