import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseDlqArgs } from './dlq-args';

const topics = ['order-saga', 'payments', 'analytics'];
const parse = (...argv: string[]) => parseDlqArgs(argv, topics);

describe('parseDlqArgs', () => {
  it('parses list, show and replay with their options', () => {
    expect(parse('list')).toEqual({ command: 'list', json: false, topic: undefined });
    expect(parse('list', '--json', '--topic', 'payments')).toEqual({
      command: 'list',
      json: true,
      topic: 'payments',
    });
    expect(parse('show', '42')).toEqual({
      command: 'show',
      id: '42',
      json: false,
      topic: undefined,
    });
    expect(parse('show', '--topic=analytics', '42', '--json')).toEqual({
      command: 'show',
      id: '42',
      json: true,
      topic: 'analytics',
    });
    expect(parse('replay', '7', '9', '7')).toEqual({
      command: 'replay',
      ids: ['7', '9'],
      topic: undefined,
    });
    expect(parse('replay', '7', '--data', 'fixed.json')).toEqual({
      command: 'replay',
      ids: ['7'],
      topic: undefined,
      data: 'fixed.json',
    });
    expect(parse('replay', '--all')).toEqual({
      command: 'replay',
      ids: 'all',
      topic: undefined,
      yes: false,
    });
    expect(parse('replay', '--all', '--yes', '--topic', 'payments')).toEqual({
      command: 'replay',
      ids: 'all',
      topic: 'payments',
      yes: true,
    });
    expect(parse('--help')).toEqual({ command: 'help' });
    expect(parse('help')).toEqual({ command: 'help' });
  });

  it.each([
    [[], /a command is needed/],
    [['purge'], /unknown command purge/],
    [['list', 'extra'], /list takes no argument/],
    [['list', '--all'], /--all does not apply to list/],
    [['list', '--verbose'], /^unknown option --verbose$/],
    [['show'], /show takes one message id/],
    [['show', '1', '2'], /show takes one message id/],
    [['show', '1;rm'], /not a message id/],
    [['replay'], /replay takes message ids, or --all/],
    [['replay', '1', '--all'], /not both/],
    [['replay', '--json', '1'], /--json does not apply to replay/],
    [['replay', '1', '2', '--data', 'f.json'], /--data replays one message/],
    [['replay', '--all', '--data', 'f.json'], /--data does not apply to replay/],
    [['list', '--data', 'f.json'], /--data does not apply to list/],
    [['replay', '1', '--yes'], /--yes applies to replay --all only/],
    [['list', '--yes'], /--yes does not apply to list/],
    [['show', '1', '--yes'], /--yes does not apply to show/],
    [['list', '--topic', 'orders'], /unknown topic orders: one of order-saga, payments, analytics/],
    [['list', '--topic'], /needs a value$/],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parse(...argv)).toThrow(UsageError);
    expect(() => parse(...argv)).toThrow(message);
  });
});
