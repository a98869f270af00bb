import { describe, expect, it } from '@jest/globals';
import { createProgress } from './progress';

function recorder(isTTY: boolean) {
  const writes: string[] = [];
  let clock = 0;
  const stream = { isTTY, columns: 200, write: (text: string) => writes.push(text) };
  return { writes, stream, tick: (ms: number) => (clock += ms), now: () => clock };
}

const state = (placed: number, final: number) => ({ total: 10, placed, notPlaced: 0, final });

describe('createProgress', () => {
  it('redraws one bar in place on a terminal, at most every 100 ms', () => {
    const { writes, stream, tick, now } = recorder(true);
    const progress = createProgress(stream, now);
    tick(1000);
    progress.update(state(5, 0));
    tick(10);
    progress.update(state(6, 0));
    tick(200);
    progress.update(state(10, 5));
    progress.finish(state(10, 10));
    expect(writes).toEqual([
      '\r\x1b[2K[===============---------------] 5/10 placed, 0/10 final, 1s',
      '\r\x1b[2K[###############===============] 10/10 placed, 5/10 final, 1s',
      '\r\x1b[2K[##############################] 10/10 placed, 10/10 final, 1s',
      '\n',
    ]);
  });

  it('writes plain lines elsewhere: one per tenth of the way, at most one a second', () => {
    const { writes, stream, tick, now } = recorder(false);
    const progress = createProgress(stream, now);
    for (let placed = 1; placed <= 10; placed += 1) {
      tick(300);
      progress.update(state(placed, 0));
    }
    for (let final = 1; final <= 10; final += 1) {
      tick(600);
      progress.update({ ...state(10, final), notPlaced: 0 });
    }
    progress.finish(state(10, 10));
    expect(writes.every((line) => line.startsWith('demo: ') && line.endsWith('\n'))).toBe(true);
    expect(writes.length).toBeGreaterThanOrEqual(4);
    expect(writes.length).toBeLessThanOrEqual(10);
    expect(writes.at(-1)).toBe('demo: 10/10 placed, 10/10 final, 9s\n');
    expect(writes.join('')).not.toContain('\r');
  });

  it('moves while orders are placed, before any is final, and counts refused ones as done', () => {
    const { writes, stream, tick, now } = recorder(true);
    const progress = createProgress(stream, now);
    const bars: string[] = [];
    for (let placed = 0; placed <= 10; placed += 2) {
      tick(150);
      progress.update(state(placed, 0));
      bars.push(/\[([#=-]+)\]/.exec(writes.at(-1)!)![1]!);
    }
    expect(new Set(bars).size).toBe(bars.length);
    expect(bars.at(-1)).toBe('='.repeat(30));
    progress.finish({ total: 10, placed: 8, notPlaced: 2, final: 8 });
    expect(writes.at(-2)).toContain(`[${'#'.repeat(30)}]`);
  });

  it('names refused orders', () => {
    const { writes, stream, now } = recorder(false);
    createProgress(stream, now).finish({ total: 4, placed: 3, notPlaced: 1, final: 3 });
    expect(writes).toEqual(['demo: 3/4 placed (1 refused), 3/4 final, 0s\n']);
  });
});
