import type { AnalyticsColumn } from './analytics-queries';

/** Rows as an aligned text table: numbers right-aligned, ratios as percentages, null as `-`. */
export function formatTable(
  columns: readonly AnalyticsColumn[],
  rows: readonly Record<string, string | number | null>[],
): string {
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column.key], column)));
  const widths = columns.map((column, i) =>
    Math.max(column.label.length, ...cells.map((line) => line[i]!.length)),
  );
  const pad = (text: string, i: number) =>
    columns[i]!.kind === 'text' ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
  const line = (values: string[]) => values.map(pad).join('  ').trimEnd();
  return [
    line(columns.map((column) => column.label)),
    line(widths.map((width) => '-'.repeat(width))),
    ...cells.map(line),
    rows.length === 0 ? '(no rows)' : `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
  ].join('\n');
}

function formatCell(value: string | number | null | undefined, column: AnalyticsColumn): string {
  if (value === null || value === undefined) return '-';
  if (column.kind === 'ratio' && typeof value === 'number') return `${(value * 100).toFixed(1)}%`;
  return String(value);
}
