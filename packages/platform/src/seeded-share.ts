import { createHash } from 'node:crypto';

/**
 * A number in [0, 1) that depends only on `parts` (joined with `:`): a decision keyed by what
 * is the same in every run with a seed (a fault to inject, an order to place) comes out alike.
 */
export function seededShare(...parts: readonly (string | number)[]): number {
  return createHash('sha256').update(parts.join(':')).digest().readUInt32BE(0) / 2 ** 32;
}
