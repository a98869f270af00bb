import type { AnalyticsColumn } from '@orders/analytics';
import { textTable } from '@orders/platform';

/**
 * Rows of an analytics query as `pnpm analytics` prints them: a text table with a rule under
 * the header, numbers right-aligned, ratios as percentages, null as `-`, then the row count.
 */
export function formatTable(
  columns: readonly AnalyticsColumn[],
  rows: readonly Record<string, string | number | null>[],
): string {
  const table = textTable(
    columns.map((column) => column.label),
    rows.map((row) => columns.map((column) => formatCell(row[column.key], column))),
    {
      rightAligned: columns.flatMap((column, index) => (column.kind === 'text' ? [] : [index])),
      rule: true,
    },
  );
  const count =
    rows.length === 0 ? '(no rows)' : `(${rows.length} row${rows.length === 1 ? '' : 's'})`;
  return `${table}\n${count}`;
}

function formatCell(value: string | number | null | undefined, column: AnalyticsColumn): string {
  if (value === null || value === undefined) return '-';
  if (column.kind === 'ratio' && typeof value === 'number') return `${(value * 100).toFixed(1)}%`;
  return String(value);
}
