import type { AnalyticsColumn, ColumnKind } from './analytics-queries';

/**
 * Engine values to plain JSON values, so that both engines give the same rows: DuckDB
 * returns BIGINT as bigint, BigQuery wraps some values in `{value}` objects.
 */
export function normalizeRows(
  rows: readonly Record<string, unknown>[],
  columns: readonly AnalyticsColumn[],
): Record<string, string | number | null>[] {
  return rows.map((row) =>
    Object.fromEntries(
      columns.map((column) => [
        column.key,
        normalizeValue(row[column.key], column.kind, column.key),
      ]),
    ),
  );
}

export function normalizeValue(
  value: unknown,
  kind: ColumnKind,
  column: string,
): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && 'value' in value)
    return normalizeValue(value.value, kind, column);
  if (kind === 'text') return String(value);
  const number = Number(value);
  const exact = typeof value === 'bigint' ? BigInt(number) === value : Number.isFinite(number);
  if (!exact || (kind === 'integer' && !Number.isSafeInteger(number))) {
    throw new RangeError(`column ${column}: ${String(value)} is not an exact ${kind}`);
  }
  return number;
}
