/**
 * Columns separated by two spaces; a column of numbers (or one named in `rightAligned`) is
 * right-aligned, the others left-aligned. null and undefined show as `-`.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly unknown[])[],
  rightAligned: readonly number[] = [],
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
  return cells
    .map((row) =>
      row
        .map((cell, column) =>
          numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
