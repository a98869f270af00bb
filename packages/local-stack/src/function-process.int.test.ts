import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { startFunction } from './function-process';
import { lineSink } from './line-sink';
import { isProcessAlive } from './test-harness';

const fixture = (name: string) => join(__dirname, 'fixtures', name);

describe('startFunction', () => {
  it('serves a function on functions-framework with the given env, and stops it', async () => {
    const fn = await startFunction({
      name: 'echo-http',
      dir: fixture('echo-http'),
      entryPoint: 'echo',
      signatureType: 'http',
      env: { PATH: process.env.PATH, GOOGLE_CLOUD_PROJECT: 'echo-project' },
      stdout: lineSink(),
      stderr: lineSink(),
    });
    try {
      expect(fn.url).toBe(`http://127.0.0.1:${fn.port}`);
      const response = await fetch(`${fn.url}/some/path`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ hello: 'world' }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        method: 'POST',
        path: '/some/path',
        body: { hello: 'world' },
        env: { GOOGLE_CLOUD_PROJECT: 'echo-project' },
      });
    } finally {
      await fn.stop();
    }
    expect(isProcessAlive(fn.pid!)).toBe(false);
    // functions-framework handles SIGTERM itself: it closes the server and exits with 0.
    await expect(fn.exited).resolves.toMatchObject({ code: 0 });
  }, 30_000);

  it('rejects with the output of a function that cannot start', async () => {
    await expect(
      startFunction({
        name: 'broken',
        dir: fixture('echo-http'),
        entryPoint: 'noSuchFunction',
        signatureType: 'http',
        env: { PATH: process.env.PATH },
        stdout: lineSink(),
        stderr: lineSink(),
      }),
    ).rejects.toThrow(/function broken exited with code \d+ before it was ready:.*noSuchFunction/s);
  }, 30_000);

  it("writes JSON lines only, the framework's own load failure included", async () => {
    const lines: string[] = [];
    await expect(
      startFunction({
        name: 'broken',
        dir: fixture('echo-http'),
        entryPoint: 'noSuchFunction',
        signatureType: 'http',
        env: { PATH: process.env.PATH },
        stdout: lineSink((line) => lines.push(line)),
        stderr: lineSink((line) => lines.push(line)),
      }),
    ).rejects.toThrow(/before it was ready/);
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((line) => JSON.parse(line) as { severity: string; message: string });
    expect(entries).toContainEqual(
      expect.objectContaining({
        severity: 'ERROR',
        message: expect.stringContaining("Function 'noSuchFunction' is not defined"),
      }),
    );
  }, 30_000);
});
