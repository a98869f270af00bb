import { describe, expect, it } from '@jest/globals';
import { forEachConcurrently } from './for-each-concurrently';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('forEachConcurrently', () => {
  it('runs every item, never more than `concurrency` at once', async () => {
    let running = 0;
    let most = 0;
    const seen: [string, number][] = [];
    await forEachConcurrently(['a', 'b', 'c', 'd', 'e'], 2, async (item, index) => {
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push([item, index]);
      running--;
    });
    expect(most).toBe(2);
    expect(seen.toSorted()).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['d', 3],
      ['e', 4],
    ]);
  });

  it('starts nothing after the first failure, and throws it once the running tasks end', async () => {
    const started: number[] = [];
    let finished = 0;
    const run = forEachConcurrently([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      await tick();
      if (item === 0) throw new Error('item 0 failed');
      await tick();
      finished++;
    });
    await expect(run).rejects.toThrow('item 0 failed');
    expect(started).toEqual([0, 1]);
    expect(finished).toBe(1);
  });

  it('takes a concurrency below 1 as 1, and does nothing without items', async () => {
    const seen: number[] = [];
    await forEachConcurrently([1, 2], 0, async (item) => {
      seen.push(item);
    });
    expect(seen).toEqual([1, 2]);
    await forEachConcurrently([], 4, async () => {
      throw new Error('never called');
    });
  });
});
