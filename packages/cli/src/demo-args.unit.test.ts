import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseDemoArgs } from './demo-args';

describe('parseDemoArgs', () => {
  it('defaults: 50 orders, 120 s, 8 at a time, a random seed, a table', () => {
    expect(parseDemoArgs([])).toEqual({
      help: false,
      orders: 50,
      json: false,
      timeoutSeconds: 120,
      seed: undefined,
      concurrency: 8,
    });
  });

  it('reads every option', () => {
    expect(
      parseDemoArgs([
        '--orders',
        '200',
        '--json',
        '--timeout',
        '2.5',
        '--seed=7',
        '--concurrency',
        '16',
      ]),
    ).toEqual({
      help: false,
      orders: 200,
      json: true,
      timeoutSeconds: 2.5,
      seed: 7,
      concurrency: 16,
    });
    expect(parseDemoArgs(['-n', '3', '-h'])).toMatchObject({ orders: 3, help: true });
  });

  it.each([
    [['--orders'], /needs a value$/],
    [['--orders', 'ten'], /--orders takes a whole number, got ten/],
    [['--orders', '0'], /--orders must be between 1 and 10000, got 0/],
    [['--orders', '10001'], /between 1 and 10000/],
    [['--orders', '2.5'], /whole number/],
    [['--orders=-3'], /--orders takes a whole number, got -3/],
    [['--timeout', '0'], /--timeout takes seconds/],
    [['--timeout', 'soon'], /--timeout takes seconds/],
    [['--seed', '-1'], /--seed needs a value; one that starts with - is written --seed=-…/],
    [['--concurrency', '0'], /between 1 and 64/],
    [['--verbose'], /^unknown option --verbose$/],
    [['10'], /unexpected argument 10/],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parseDemoArgs(argv)).toThrow(UsageError);
    expect(() => parseDemoArgs(argv)).toThrow(message);
  });
});
