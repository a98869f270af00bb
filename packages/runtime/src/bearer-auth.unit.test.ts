import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, jest } from '@jest/globals';
import { signDevToken, startDevIssuer } from '@orders/local-stack';
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

  it('answers a token it verified before until the token expires, then refuses it', async () => {
    const issuer = await startDevIssuer({ audience: 'app' });
    try {
      let clock = Date.now();
      const authenticate = createBearerAuth({ ...issuer, realm: 'orders', now: () => clock });
      const token = await signDevToken(issuer, 'cust-1', { expiresInSeconds: 30 });
      await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ subject: 'cust-1' });
      clock += 20_000;
      await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ subject: 'cust-1' });
      // Past its exp and the 5 s of tolerance: a cached verification does not outlive it.
      clock += 16_000;
      await expect(authenticate(`Bearer ${token}`)).rejects.toMatchObject({
        status: 401,
        message: 'the token has expired',
      });
    } finally {
      await issuer.stop();
    }
  });

  it('checks the signature of a kept token once, then again after maxAgeMs', async () => {
    const issuer = await startDevIssuer({ audience: 'app' });
    const other = await startDevIssuer({ audience: 'app' });
    const signatureChecks = jest.spyOn(crypto.subtle, 'verify');
    try {
      let clock = Date.now();
      const authenticate = createBearerAuth({
        ...issuer,
        realm: 'orders',
        now: () => clock,
        verifiedTokens: { maxEntries: 10, maxAgeMs: 1_000 },
      });
      const token = await issuer.token('cust-2');
      await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ subject: 'cust-2' });
      await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ subject: 'cust-2' });
      expect(signatureChecks).toHaveBeenCalledTimes(1);
      clock += 1_000;
      await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ subject: 'cust-2' });
      expect(signatureChecks).toHaveBeenCalledTimes(2);
      // Signed by another key under this issuer's name: refused every time, never kept.
      const forged = await signDevToken({ ...other, issuer: issuer.issuer }, 'cust-1');
      for (let attempt = 0; attempt < 2; attempt++) {
        await expect(authenticate(`Bearer ${forged}`)).rejects.toBeInstanceOf(UnauthorizedError);
      }
    } finally {
      signatureChecks.mockRestore();
      await issuer.stop();
      await other.stop();
    }
  });
});
