import { describe, expect, it } from '@jest/globals';
import { lines } from './pipeline-bench';

describe('lines', () => {
  it('hands over each complete line, joining lines split across chunks, and the last on end', async () => {
    const seen: string[] = [];
    const sink = lines((line) => seen.push(line));
    sink.write('{"seq":"1"}\n{"se');
    sink.write('q":"2"}\n\n');
    sink.write('tail');
    await new Promise<void>((resolve) => sink.end(resolve));
    expect(seen).toEqual(['{"seq":"1"}', '{"seq":"2"}', 'tail']);
  });
});
