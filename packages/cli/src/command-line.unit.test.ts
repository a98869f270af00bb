import { describe, expect, it } from '@jest/globals';
import { UsageError } from '@orders/platform';
import { closest, parseCommandLine, unknownChoice } from './command-line';

const options = {
  json: { type: 'boolean' },
  limit: { type: 'string' },
  orders: { type: 'string', short: 'n' },
} as const;

const refusal = (argv: string[]) => {
  try {
    parseCommandLine(argv, options);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
};

describe('parseCommandLine', () => {
  it("says what is wrong in the command's words, not the parser's", () => {
    expect(refusal(['--josn'])).toBe('unknown option --josn (did you mean --json?)');
    expect(refusal(['--verbose'])).toBe('unknown option --verbose');
    expect(refusal(['-x'])).toBe('unknown option -x');
    expect(refusal(['--limit'])).toBe('--limit needs a value');
    expect(refusal(['-n'])).toBe('--orders needs a value');
    expect(refusal(['--json=yes'])).toBe('--json takes no value');
  });

  it('parses what is right', () => {
    expect(parseCommandLine(['show', '--limit', '3', '-n', '2'], options)).toMatchObject({
      values: { limit: '3', orders: '2' },
      positionals: ['show'],
    });
  });
});

describe('closest', () => {
  const statuses = [
    'RESERVING_STOCK',
    'AWAITING_PAYMENT',
    'CANCELLED',
    'CONFIRMED',
    'NEEDS_ATTENTION',
  ];

  it('finds what was meant: other case, a prefix, a typo or two, a transposition', () => {
    expect(closest('needs_attention', statuses)).toBe('NEEDS_ATTENTION');
    expect(closest('CANCELED', statuses)).toBe('CANCELLED');
    expect(closest('confirmd', statuses)).toBe('CONFIRMED');
    expect(closest('awaiting', statuses)).toBe('AWAITING_PAYMENT');
    expect(closest('funnle', ['daily-revenue', 'funnel', 'latency'])).toBe('funnel');
    expect(closest('lsit', ['list', 'show', 'stalled', 'redrive'])).toBe('list');
  });

  it('suggests nothing for what is far from every choice', () => {
    expect(closest('PENDING', statuses)).toBeUndefined();
    expect(closest('revenue', ['daily-revenue', 'funnel'])).toBeUndefined();
    expect(closest('', statuses)).toBeUndefined();
    expect(closest('--', ['--json'])).toBeUndefined();
  });
});

describe('unknownChoice', () => {
  it('names the near one, then every one', () => {
    expect(unknownChoice('status', 'CONFIRMD', ['CONFIRMED', 'CANCELLED'])).toBe(
      'unknown status CONFIRMD: did you mean CONFIRMED? (one of CONFIRMED, CANCELLED)',
    );
    expect(unknownChoice('command', 'purge', ['list', 'show'])).toBe(
      'unknown command purge: one of list, show',
    );
  });
});
