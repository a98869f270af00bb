import { describe, expect, it } from '@jest/globals';
import { toMinorUnits } from './money';

describe('toMinorUnits', () => {
  it.each([
    [19.99, 'EUR', 1999],
    [0.07, 'EUR', 7],
    [0.29, 'EUR', 29],
    [1000.1, 'USD', 100010],
    [500, 'JPY', 500],
    [10, 'JPY', 10],
    [1.234, 'KWD', 1234],
    [0, 'EUR', 0],
  ])('%p %s is exactly %p minor units', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  // The shortest decimal spelling of the float (what JSON carries), rounded half up.
  it.each([
    [10.2 * 3, 'USD', 3060], // 30.599999999999998: binary noise
    [0.1 + 0.2, 'EUR', 30], // 0.30000000000000004
    [19.999, 'EUR', 2000],
    [1.005, 'EUR', 101], // spelled 1.005, though the float is a hair below it
    [19.994, 'EUR', 1999],
    [0.004, 'EUR', 0],
    [0.005, 'EUR', 1],
    [1.5, 'JPY', 2],
    [2.4999, 'JPY', 2],
    [1.2345, 'KWD', 1235],
    [99.995, 'USD', 10000],
  ])('%p %s rounds half up to %p minor units', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  it.each([
    [-1, 'EUR', '-1 is not a non-negative decimal amount'],
    [-0.001, 'EUR', '-0.001 is not a non-negative decimal amount'],
    [Number.NaN, 'EUR', 'NaN is not a non-negative decimal amount'],
    [Number.POSITIVE_INFINITY, 'EUR', 'Infinity is not a non-negative decimal amount'],
    [1e21, 'EUR', '1e+21 is not a non-negative decimal amount'],
    [1e-7, 'EUR', '1e-7 is not a non-negative decimal amount'],
    [90071992547409.92, 'EUR', '90071992547409.92 EUR is more than 9007199254740991 minor units'],
    [9007199254740992, 'JPY', '9007199254740992 JPY is more than 9007199254740991 minor units'],
  ])('refuses %p %s', (amount, currency, message) => {
    expect(() => toMinorUnits(amount, currency)).toThrow(new RangeError(message));
  });

  it('accepts the largest amount that fits', () => {
    expect(toMinorUnits(Number.MAX_SAFE_INTEGER, 'JPY')).toBe(Number.MAX_SAFE_INTEGER);
  });
});
