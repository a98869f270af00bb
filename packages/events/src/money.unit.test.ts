import { describe, expect, it } from '@jest/globals';
import { toMinorUnits } from './money';

describe('toMinorUnits', () => {
  it.each([
    [19.99, 'EUR', 1999],
    [0.07, 'EUR', 7],
    [0.29, 'EUR', 29],
    [1000.1, 'USD', 100010],
    [500, 'JPY', 500],
    [1.234, 'KWD', 1234],
    [0, 'EUR', 0],
  ])('%p %s is %p minor units', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  it.each([
    [1.5, 'JPY'],
    [1.005, 'USD'],
    [19.999, 'EUR'],
    [-1, 'EUR'],
    [Number.NaN, 'EUR'],
    [1e21, 'EUR'],
  ])('refuses %p %s', (amount, currency) => {
    expect(() => toMinorUnits(amount, currency)).toThrow(RangeError);
  });
});
