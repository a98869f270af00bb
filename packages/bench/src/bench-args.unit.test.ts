import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { benchNames, parseBenchArgs } from './bench-args';

describe('parseBenchArgs', () => {
  it('runs every benchmark, as a text table, at full length by default', () => {
    expect(parseBenchArgs([])).toEqual({ json: false, quick: false, only: [...benchNames] });
  });

  it('reads --json and --quick', () => {
    expect(parseBenchArgs(['--quick', '--json'])).toMatchObject({ json: true, quick: true });
  });

  it('keeps the run order whatever the order of --only', () => {
    expect(parseBenchArgs(['--only', 'cold-start,intake']).only).toEqual(['intake', 'cold-start']);
    expect(parseBenchArgs(['--only=analytics']).only).toEqual(['analytics']);
    expect(parseBenchArgs(['--only', 'pipeline', '--only', 'intake']).only).toEqual([
      'intake',
      'pipeline',
    ]);
  });

  it('takes scale-retention for scale, its former name', () => {
    expect(parseBenchArgs(['--only', 'scale-retention,hot-products']).only).toEqual([
      'scale',
      'hot-products',
    ]);
    expect(parseBenchArgs(['--only', 'scale,scale-retention']).only).toEqual(['scale']);
  });

  it.each([
    [['--fast'], 'unknown argument --fast'],
    [['--only'], '--only takes a list of benchmarks'],
    [['--only', '--json'], '--only takes a list of benchmarks'],
    [['--only', 'intake,warp'], 'unknown benchmark "warp"'],
    [['--only='], '--only takes a list of benchmarks'],
    [['quick'], 'unknown argument quick'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});
