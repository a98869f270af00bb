import { describe, expect, it } from '@jest/globals';
import { analyticsQueries } from '@orders/analytics';
import { formatTable } from './format-table';

const declineRate = analyticsQueries.find((query) => query.name === 'decline-rate')!;

describe('formatTable', () => {
  it('aligns text left and numbers right, shows ratios as percentages and null as -', () => {
    expect(
      formatTable(declineRate.columns, [
        { reason: 'declined', failures: 3, requests: 12, rate: 0.25 },
        { reason: 'all declines', failures: 3, requests: 0, rate: null },
      ]),
    ).toBe(
      [
        'reason        failed payments  payment requests   rate',
        '------------  ---------------  ----------------  -----',
        'declined                    3                12  25.0%',
        'all declines                3                 0      -',
        '(2 rows)',
      ].join('\n'),
    );
  });

  it('says when there are no rows', () => {
    expect(formatTable(declineRate.columns, []).split('\n').at(-1)).toBe('(no rows)');
  });
});
