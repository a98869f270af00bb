export interface TextTableOptions {
  /** Columns (by index) to right-align, besides those whose every cell is a number. */
  rightAligned?: readonly number[];
  /** A line of dashes under the header, each as wide as its column. */
  rule?: boolean;
}

/**
 * The one text table of the tools (`pnpm analytics`, `demo`, `dlq`, `sagas`, `bench`):
 * columns separated by two spaces, as wide as their widest cell; a column of numbers (or one
 * named in `rightAligned`) is right-aligned, the others left-aligned; null and undefined show
 * as `-`; no trailing spaces.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly unknown[])[],
  { rightAligned = [], rule = false }: TextTableOptions = {},
): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => String(cell ?? '-')));
  const numeric = header.map(
    (_, column) =>
      rightAligned.includes(column) ||
      (rows.length > 0 && rows.every((row) => typeof row[column] === 'number')),
  );
  const widths = header.map((_, column) =>
    Math.max(...cells.map((row) => row[column]?.length ?? 0)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  const [head, ...body] = cells.map(line);
  return [head, ...(rule ? [line(widths.map((width) => '-'.repeat(width)))] : []), ...body].join(
    '\n',
  );
}
