import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@orders/platform';
import { createHttpFunction } from './http-function';

// Found by the intake fuzz suite (functions/place-order/src/intake-fuzz.int.test.ts): a path
// Express cannot percent-decode never reached the function, and Express answered it with an
// HTML page carrying a stack trace.
let server: Server;
let baseUrl: string;
const lines: string[] = [];

beforeAll(async () => {
  functions.http(
    'httpFunctionTest',
    createHttpFunction({
      logger: createLogger({ write: (line) => lines.push(line) }),
      projectId: 'p',
      maxBodyBytes: 1024,
      handle: async (req) => ({ status: 200, body: { path: req.path } }),
    }),
  );
  server = getTestServer('httpFunctionTest');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('createHttpFunction: failures before the function runs', () => {
  it.each(['/orders/%', '/orders/%E0%A4%A', '/%zz', '/orders/%uD800'])(
    'answers %s with a problem+json 400, not an HTML page',
    async (path) => {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        code: 'malformed_path',
        detail: 'the path is not valid percent-encoding',
      });
      expect(text).not.toMatch(/URIError|node_modules|<html/i);
    },
  );

  it('still serves a path that decodes', async () => {
    const response = await fetch(`${baseUrl}/orders/%41%2F`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ path: '/orders/%41%2F' });
  });

  it('logs the refusal as a JSON line', () => {
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ severity: 'INFO', code: 'malformed_path' }),
    );
  });
});

describe('createHttpFunction: the request line', () => {
  const requestLines = (path: string) =>
    lines.map((line) => JSON.parse(line)).filter((entry) => entry.httpRequest?.requestUrl === path);

  it('logs a read that succeeds at debug (a client polling stays out of info), a write at info', async () => {
    expect((await fetch(`${baseUrl}/orders/polled`)).status).toBe(200);
    const write = await fetch(`${baseUrl}/orders/written`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(write.status).toBe(200);
    expect(requestLines('/orders/polled')).toEqual([]);
    expect(requestLines('/orders/written')).toEqual([
      expect.objectContaining({ severity: 'INFO', message: 'POST /orders/written 200' }),
    ]);
  });
});
