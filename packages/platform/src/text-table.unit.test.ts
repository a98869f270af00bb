import { describe, expect, it } from '@jest/globals';
import { textTable } from './text-table';

describe('textTable', () => {
  it('aligns numbers right and the rest left, shows null as -, and ends no line in spaces', () => {
    expect(
      textTable(
        ['name', 'count', 'note'],
        [
          ['a', 1, null],
          ['longer', 120, 'x'],
        ],
      ).split('\n'),
    ).toEqual(['name    count  note', 'a           1  -', 'longer    120  x']);
  });

  it('right-aligns the columns named, and draws a rule under the header when asked', () => {
    expect(
      textTable(
        ['what', 'figure'],
        [
          ['p50', '12.5'],
          ['p99', '130.0'],
        ],
        {
          rightAligned: [1],
          rule: true,
        },
      ).split('\n'),
    ).toEqual(['what  figure', '----  ------', 'p50     12.5', 'p99    130.0']);
  });

  it('prints the header alone when there are no rows', () => {
    expect(textTable(['a', 'bb'], [], { rule: true })).toBe('a  bb\n-  --');
  });
});
