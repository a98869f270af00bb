import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { seededShare } from './seeded-share';

describe('seededShare', () => {
  it('depends only on its parts, joined with a colon', () => {
    expect(seededShare('7', 'x', 1)).toBe(seededShare('7', 'x', 1));
    expect(seededShare('7', 'x', 1)).not.toBe(seededShare('7', 'x', 2));
    expect(seededShare('7', 'x', 1)).toBe(seededShare('7:x:1'));
  });

  it('is the first 32 bits of the parts SHA-256, as a share of 2^32', () => {
    const share = seededShare('seed', 'key');
    expect(share).toBe(createHash('sha256').update('seed:key').digest().readUInt32BE(0) / 2 ** 32);
    expect(share).toBeGreaterThanOrEqual(0);
    expect(share).toBeLessThan(1);
  });
});
