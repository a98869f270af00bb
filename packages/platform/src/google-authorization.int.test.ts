import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { applicationDefaultCredentials } from './google-authorization';

/** A metadata server that answers every token request with `answer`. */
async function metadataServer(answer: unknown): Promise<{ host: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('applicationDefaultCredentials from the metadata server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it.each([
    ['no access token', { expires_in: 3599, token_type: 'Bearer' }],
    ['no expiry', { access_token: 'ya29.token', token_type: 'Bearer' }],
    ['not an object', 'ya29.token'],
  ])(
    'refuses an answer with %s, rather than sending a header that cannot work',
    async (_, answer) => {
      const started = await metadataServer(answer);
      server = started.server;
      const authorize = applicationDefaultCredentials('https://www.googleapis.com/auth/bigquery', {
        GCE_METADATA_HOST: started.host,
      });
      await expect(authorize()).rejects.toThrow(/metadata server/);
    },
  );

  it('sends the token it was given', async () => {
    const started = await metadataServer({ access_token: 'ya29.token', expires_in: 3599 });
    server = started.server;
    const authorize = applicationDefaultCredentials('https://www.googleapis.com/auth/bigquery', {
      GCE_METADATA_HOST: started.host,
    });
    await expect(authorize()).resolves.toEqual({ authorization: 'Bearer ya29.token' });
  });
});
