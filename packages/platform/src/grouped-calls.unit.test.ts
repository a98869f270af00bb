import { describe, expect, it } from '@jest/globals';
import { groupedCalls } from './grouped-calls';

/** A `run` whose calls end only when the test says so. */
function heldCalls() {
  const calls: { items: string[]; end(error?: Error): void }[] = [];
  const run = (items: string[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ items, end: (error) => (error ? reject(error) : resolve()) });
    });
  return { calls, run };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('groupedCalls', () => {
  it('calls at once for a lone caller, then serves everyone who came meanwhile in one call', async () => {
    const { calls, run } = heldCalls();
    const call = groupedCalls(run);
    const first = call(['a']);
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    const second = call(['b', 'c']);
    const third = call(['d']);
    calls[0]!.end();
    await first;
    await settled();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1]!.end();
    await expect(Promise.all([second, third])).resolves.toEqual([undefined, undefined]);
  });

  it('rejects the callers of a failed call only, and goes on with the next', async () => {
    const { calls, run } = heldCalls();
    const call = groupedCalls(run);
    const first = call(['a']);
    const second = call(['b']);
    calls[0]!.end(new Error('refused'));
    await expect(first).rejects.toThrow('refused');
    await settled();
    calls[1]!.end();
    await expect(second).resolves.toBeUndefined();
  });

  it('cuts a call at maxItems and maxWeight, never splitting a caller and taking at least one', async () => {
    const { calls, run } = heldCalls();
    const call = groupedCalls(run, { maxItems: 3, maxWeight: 10, weightOf: (item) => item.length });
    const pending = [
      call(['first']),
      call(['a', 'b']),
      call(['c', 'd']),
      call(['eeeeeeeeeeee']),
      call(['f']),
    ];
    for (let i = 0; i < 4; i++) {
      calls[i]!.end();
      await settled();
    }
    expect(calls.map((c) => c.items)).toEqual([
      ['first'],
      ['a', 'b'],
      ['c', 'd'],
      ['eeeeeeeeeeee'],
      ['f'],
    ]);
    calls[4]!.end();
    await Promise.all(pending);
  });
});
