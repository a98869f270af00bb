/**
 * The nearest-rank percentile: the value at rank ceil(fraction × n) of the sorted values
 * (`fraction` 0.5 for the median, 0.95 for p95); null when there are no values.
 */
export function percentile(values: readonly number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}
