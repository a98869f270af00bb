import http from 'node:http';
import https from 'node:https';

const transientStatuses = new Set([408, 429, 500, 502, 503, 504]);

/** An HTTP status that says "later" (timeout, too many requests, the server's trouble). */
export function isTransientStatus(status: number): boolean {
  return transientStatuses.has(status);
}

/** An answer's body as the JSON object it should be; undefined for anything else. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface HttpAnswer {
  status: number;
  text: string;
}

/** Calls that read the whole answer, whatever its status; they reject only without one. */
export interface HttpCalls {
  post(url: string, headers: Record<string, string>, body: string): Promise<HttpAnswer>;
  get(url: string, headers: Record<string, string>): Promise<HttpAnswer>;
}

/**
 * Calls over node:http or node:https (by the URL's scheme) on kept-alive connections, each
 * given up after `timeoutMs` without an answer (it rejects; so does a lost connection).
 * node:http rather than `fetch`: the first `fetch` loads undici, about 50 ms of a cold start.
 */
export function httpCalls({ timeoutMs }: { timeoutMs: number }): HttpCalls {
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  const call = (
    method: 'GET' | 'POST',
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<HttpAnswer> =>
    new Promise((resolve, reject) => {
      const secure = new URL(url).protocol === 'https:';
      const request = secure ? https.request : http.request;
      const agent = secure ? agents.https : agents.http;
      const outgoing = request(url, { method, headers, agent, timeout: timeoutMs });
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      outgoing.on('error', reject);
      outgoing.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      });
      outgoing.end(body);
    });
  return {
    post: (url, headers, body) => call('POST', url, headers, body),
    get: (url, headers) => call('GET', url, headers),
  };
}
