import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { parseOutboxArgs } from './outbox-args';

const eventId = '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50';

describe('parseOutboxArgs', () => {
  it('parses list, show and retry with their options', () => {
    expect(parseOutboxArgs(['list'])).toEqual({
      command: 'list',
      setAside: false,
      limit: 100,
      json: false,
    });
    expect(parseOutboxArgs(['list', '--set-aside', '--limit', '5', '--json'])).toEqual({
      command: 'list',
      setAside: true,
      limit: 5,
      json: true,
    });
    expect(parseOutboxArgs(['show', eventId.toUpperCase(), '--json'])).toEqual({
      command: 'show',
      eventId,
      json: true,
    });
    expect(parseOutboxArgs(['retry', eventId])).toEqual({
      command: 'retry',
      eventId,
      dryRun: false,
    });
    expect(parseOutboxArgs(['retry', '--dry-run', eventId])).toEqual({
      command: 'retry',
      eventId,
      dryRun: true,
    });
    expect(parseOutboxArgs(['--help'])).toEqual({ command: 'help' });
  });

  it.each([
    [[], /a command is needed: list, show or retry/],
    [['purge'], /unknown command purge: list, show or retry/],
    [['list', 'extra'], /list takes no argument/],
    [['list', '--limit', '0'], /--limit must be a whole number from 1 to 10000, got 0/],
    [['show'], /show takes one event id/],
    [['show', 'row-1'], /not an event id \(a uuid\): row-1/],
    [['show', eventId, '--set-aside'], /--set-aside does not apply to show/],
    [['retry', eventId, eventId], /retry takes one event id/],
    [['retry', eventId, '--json'], /--json does not apply to retry/],
    [['retry', eventId, '--limit', '3'], /--limit does not apply to retry/],
    [['list', '--dry-run'], /--dry-run does not apply to list/],
    [['show', eventId, '--dry-run'], /--dry-run does not apply to show/],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parseOutboxArgs(argv)).toThrow(UsageError);
    expect(() => parseOutboxArgs(argv)).toThrow(message);
  });
});
