import { describe, expect, it } from '@jest/globals';
import { lineSink } from './line-sink';

describe('lineSink', () => {
  it('hands over each complete line, joining lines split across chunks, and the last on end', async () => {
    const seen: string[] = [];
    const sink = lineSink((line) => seen.push(line));
    sink.write('{"seq":"1"}\n{"se');
    sink.write('q":"2"}\n\n');
    sink.write('tail');
    await new Promise<void>((resolve) => sink.end(resolve));
    expect(seen).toEqual(['{"seq":"1"}', '{"seq":"2"}', 'tail']);
  });

  it('discards the output without a callback', async () => {
    const sink = lineSink();
    sink.write('dropped\n');
    await new Promise<void>((resolve) => sink.end(resolve));
    expect(sink.writableFinished).toBe(true);
  });
});
