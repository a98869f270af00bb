import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';

/**
 * `out`, with everything written to it also appended to the file `path` (the functions' log
 * that `pnpm trace` reads). `close` ends the file once every function has stopped.
 */
export function alsoToFile(
  out: Writable,
  path: string,
  onError: (error: Error) => void,
): { stream: Writable; close(): Promise<void> } {
  const file = createWriteStream(path, { flags: 'a' });
  // A file that cannot be written loses the copy, never the function's output.
  file.on('error', onError);
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      file.write(chunk);
      out.write(chunk, done);
    },
  });
  return {
    stream,
    close: () => new Promise((resolve) => file.end(resolve)),
  };
}
