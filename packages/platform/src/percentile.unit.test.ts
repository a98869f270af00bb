import { describe, expect, it } from '@jest/globals';
import { percentile } from './percentile';

describe('percentile', () => {
  it('is the nearest rank of the sorted values', () => {
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([4, 1, 3, 2], 0.5)).toBe(2);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.95)).toBe(95);
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile(hundred, 1)).toBe(100);
  });

  it('is null without values', () => {
    expect(percentile([], 0.5)).toBeNull();
  });
});
