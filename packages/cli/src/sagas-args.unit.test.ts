import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseSagasArgs } from './sagas-args';

const statuses = [
  'RESERVING_STOCK',
  'AWAITING_PAYMENT',
  'CONFIRMED',
  'CANCELLED',
  'NEEDS_ATTENTION',
];
const parse = (...argv: string[]) => parseSagasArgs(argv, statuses);
const orderId = '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50';

describe('parseSagasArgs', () => {
  it('parses list and show with their options', () => {
    expect(parse('list')).toEqual({
      command: 'list',
      status: undefined,
      overdue: false,
      limit: 100,
      json: false,
    });
    expect(parse('list', '--status', 'NEEDS_ATTENTION', '--json', '--limit=5')).toEqual({
      command: 'list',
      status: 'NEEDS_ATTENTION',
      overdue: false,
      limit: 5,
      json: true,
    });
    expect(parse('show', orderId)).toEqual({ command: 'show', orderId, json: false });
    expect(parse('show', '--json', orderId.toUpperCase())).toEqual({
      command: 'show',
      orderId,
      json: true,
    });
    expect(parse('stalled')).toEqual({ command: 'stalled', limit: 100, json: false });
    expect(parse('stalled', '--json', '--limit', '7')).toEqual({
      command: 'stalled',
      limit: 7,
      json: true,
    });
    expect(parse('redrive', orderId)).toEqual({ command: 'redrive', orderId, dryRun: false });
    expect(parse('redrive', '--dry-run', orderId)).toEqual({
      command: 'redrive',
      orderId,
      dryRun: true,
    });
    expect(parse('retry', orderId)).toEqual({ command: 'retry', orderId, dryRun: false });
    expect(parse('retry', orderId.toUpperCase(), '--dry-run')).toEqual({
      command: 'retry',
      orderId,
      dryRun: true,
    });
    expect(parse('diagram')).toEqual({ command: 'diagram' });
    expect(parse('list', '--overdue')).toEqual({
      command: 'list',
      status: undefined,
      overdue: true,
      limit: 100,
      json: false,
    });
    expect(parse('--help')).toEqual({ command: 'help' });
    expect(parse('help')).toEqual({ command: 'help' });
  });

  it.each([
    [[], /a command is needed: list, show, stalled, redrive, retry or diagram/],
    [['purge'], /unknown command purge: one of list, show, stalled, redrive, retry, diagram/],
    [['list', 'extra'], /list takes no argument, got extra/],
    [
      ['list', '--status', 'STUCK'],
      /unknown status STUCK: one of RESERVING_STOCK, AWAITING_PAYMENT, CONFIRMED, CANCELLED, NEEDS_ATTENTION/,
    ],
    [['list', '--status', 'needs_attention'], /unknown status needs_attention/],
    [['list', '--status'], /needs a value$/],
    [['list', '--limit', '0'], /--limit must be a whole number from 1 to 10000, got 0/],
    [['list', '--limit', '2.5'], /--limit must be a whole number/],
    [['list', '--limit', '10001'], /--limit must be a whole number/],
    [['list', '--limit', 'all'], /--limit must be a whole number/],
    [['list', '--verbose'], /^unknown option --verbose$/],
    [['show'], /show takes one order id/],
    [['show', orderId, orderId], /show takes one order id/],
    [['show', 'order-42'], /not an order id \(a uuid\): order-42/],
    [['show', `${orderId}'`], /not an order id/],
    [['show', orderId, '--status', 'CONFIRMED'], /--status does not apply to show/],
    [['show', orderId, '--limit', '3'], /--limit does not apply to show/],
    [['show', orderId, '--dry-run'], /--dry-run applies to redrive and retry only/],
    [['list', '--dry-run'], /--dry-run applies to redrive and retry only/],
    [['stalled', '--dry-run'], /--dry-run applies to redrive and retry only/],
    [['stalled', '--status', 'CONFIRMED'], /--status does not apply to stalled/],
    [['stalled', orderId], /stalled takes no argument/],
    [['redrive'], /redrive takes one order id/],
    [['redrive', 'order-42'], /not an order id/],
    [['redrive', orderId, '--json'], /--json does not apply to redrive/],
    [['retry'], /retry takes one order id/],
    [['retry', orderId, orderId], /retry takes one order id/],
    [['retry', 'order-42'], /not an order id/],
    [['retry', orderId, '--json'], /--json does not apply to retry/],
    [['retry', orderId, '--status', 'NEEDS_ATTENTION'], /--status does not apply to retry/],
    [['diagram', 'order'], /diagram takes no argument, got order/],
    [['diagram', '--json'], /--json does not apply to diagram/],
    [['show', orderId, '--overdue'], /--overdue applies to list only/],
    [['stalled', '--overdue'], /--overdue applies to list only/],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parse(...argv)).toThrow(UsageError);
    expect(() => parse(...argv)).toThrow(message);
  });
});
