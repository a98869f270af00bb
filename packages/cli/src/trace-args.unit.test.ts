import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseTraceArgs } from './trace-args';

const orderId = '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50';

describe('parseTraceArgs', () => {
  it('takes one order id and the files to read', () => {
    expect(parseTraceArgs([orderId.toUpperCase()])).toEqual({
      command: 'trace',
      orderId,
      json: false,
    });
    expect(parseTraceArgs([orderId, '--logs', 'a.log', '--spans=s.jsonl', '--json'])).toEqual({
      command: 'trace',
      orderId,
      logs: 'a.log',
      spans: 's.jsonl',
      json: true,
    });
    expect(parseTraceArgs(['--help'])).toEqual({ command: 'help' });
  });

  it('refuses what is not one order id', () => {
    expect(() => parseTraceArgs([])).toThrow(new UsageError('an order id is needed'));
    expect(() => parseTraceArgs(['42'])).toThrow('42 is not an order id (a uuid)');
    expect(() => parseTraceArgs([orderId, orderId])).toThrow('one order id only');
    expect(() => parseTraceArgs([orderId, '--since', '1h'])).toThrow(UsageError);
  });
});
