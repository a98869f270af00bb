import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { startDevIssuer } from '@orders/local-stack';
import { ProblemError } from '@orders/platform';
import { createBearerAuth, UnauthorizedError } from './bearer-auth';

describe('createBearerAuth', () => {
  it('answers 503 (retryable), not 401, when the issuer keys cannot be fetched', async () => {
    const issuer = await startDevIssuer({ audience: 'app' });
    const token = await issuer.token('cust-1');
    await issuer.stop();
    const authenticate = createBearerAuth({ ...issuer, realm: 'orders' });
    const failure = await authenticate(`Bearer ${token}`).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProblemError);
    expect(failure).not.toBeInstanceOf(UnauthorizedError);
    expect(failure).toMatchObject({ status: 503, retryable: true });
  });

  it("answers 503 when the issuer's key set is not a key set", async () => {
    const server = createServer((_req, res) => res.end('<html>maintenance</html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const issuer = await startDevIssuer({ audience: 'app' });
    try {
      const authenticate = createBearerAuth({ ...issuer, jwksUrl: url, realm: 'orders' });
      await expect(authenticate(`Bearer ${await issuer.token('cust-1')}`)).rejects.toMatchObject({
        status: 503,
      });
    } finally {
      await issuer.stop();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names the subject of a valid token, and refuses one without a usable subject', async () => {
    const issuer = await startDevIssuer({ audience: 'app' });
    try {
      const authenticate = createBearerAuth({ ...issuer, realm: 'orders' });
      await expect(authenticate(`Bearer ${await issuer.token('cust-1')}`)).resolves.toEqual({
        subject: 'cust-1',
      });
      for (const subject of ['', 'a b', 'x'.repeat(129), 'tab\there']) {
        await expect(authenticate(`Bearer ${await issuer.token(subject)}`)).rejects.toBeInstanceOf(
          UnauthorizedError,
        );
      }
    } finally {
      await issuer.stop();
    }
  });
});
