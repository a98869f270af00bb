import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';

/** What signs development tokens: the issuer, the audience, and the private key. */
export interface DevSigningKey {
  issuer: string;
  audience: string;
  /** The private key as a JWK (with `kid` and `alg`). */
  privateJwk: JWK;
}

/** A token issuer for this machine only: what Identity Platform is to a deployed stack. */
export interface DevIssuer extends DevSigningKey {
  /** Its public keys, as a JWK Set. */
  jwksUrl: string;
  /** A fresh token for `subject` (a customer id), valid for an hour. */
  token(subject: string): Promise<string>;
  stop(): Promise<void>;
}

const alg = 'ES256';

/**
 * Starts the development issuer of the local stack: a key pair made now (never written
 * anywhere but the dev stack file, owner-only), and an HTTP server on 127.0.0.1 that serves
 * its public key set at `/.well-known/jwks.json` and its OpenID discovery document. Its
 * issuer is its own `http://127.0.0.1:PORT` URL, which place-order refuses on Cloud Run.
 */
export async function startDevIssuer({ audience }: { audience: string }): Promise<DevIssuer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };

  let issuer = '';
  const server = createServer((req, res) => {
    const documents: Record<string, unknown> = {
      '/.well-known/jwks.json': { keys: [publicJwk] },
      '/.well-known/openid-configuration': {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: [alg],
      },
    };
    const document = req.method === 'GET' ? documents[req.url ?? ''] : undefined;
    if (!document) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const key: DevSigningKey = { issuer, audience, privateJwk };
  return {
    ...key,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    token: (subject) => signDevToken(key, subject),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A token of the development issuer for `subject`, valid for `expiresInSeconds` (default an
 * hour): what `pnpm run token` prints, from the key in the dev stack file.
 */
export async function signDevToken(
  { issuer, audience, privateJwk }: DevSigningKey,
  subject: string,
  { expiresInSeconds = 3600 }: { expiresInSeconds?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid: privateJwk.kid!, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(await importJWK(privateJwk, alg));
}
