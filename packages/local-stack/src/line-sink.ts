import { Writable } from 'node:stream';

/**
 * A stream for a function's or a server's output that hands `onLine` each complete line that
 * is not blank (a line split across chunks is joined; the last one, without its newline, on
 * end). Without `onLine` it discards the output. Tests collect with it (`lineSink((line) =>
 * output.push(line))`) and silence with it (`lineSink()`); tools filter with it.
 */
export function lineSink(onLine: (line: string) => void = () => {}): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop()!;
      for (const line of parts) if (line.trim() !== '') onLine(line);
      done();
    },
    final(done) {
      if (partial.trim() !== '') onLine(partial);
      done();
    },
  });
}
