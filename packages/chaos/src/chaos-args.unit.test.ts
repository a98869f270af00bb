import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseChaosArgs } from './chaos-args';

const parse = (...argv: string[]) => parseChaosArgs(argv, () => '4242');

describe('pnpm chaos arguments', () => {
  it('defaults, and draws a seed only when none is given', () => {
    expect(parse()).toEqual({
      orders: 200,
      seed: '4242',
      concurrency: 8,
      rate: 4,
      json: false,
      drainTimeoutSeconds: 120,
    });
    expect(
      parse(
        '--orders',
        '1000',
        '--seed',
        '1',
        '--json',
        '--concurrency',
        '16',
        '--drain-timeout',
        '60',
        '--rate',
        '10',
      ),
    ).toEqual({
      orders: 1000,
      seed: '1',
      concurrency: 16,
      rate: 10,
      json: true,
      drainTimeoutSeconds: 60,
    });
  });

  it.each([
    [['--orders', '0'], /--orders takes a whole number from 1/],
    [['--orders', '1.5'], /--orders takes a whole number/],
    [['--orders'], /--orders takes a whole number/],
    [['--seed', ''], /--seed takes 1 to 64/],
    [['--seed', 'a b'], /--seed takes 1 to 64/],
    [['--verbose'], /unknown argument --verbose/],
  ])('refuses %j', (argv, message) => {
    expect(() => parse(...argv)).toThrow(UsageError);
    expect(() => parse(...argv)).toThrow(message);
  });
});
