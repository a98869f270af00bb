import { ProblemError } from '@orders/platform';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { createVerifiedTokens, type VerifiedTokensOptions } from './verified-tokens';

export interface BearerAuthOptions {
  /** The `iss` every token must carry, e.g. `https://securetoken.google.com/<project>`. */
  issuer: string;
  /** The `aud` every token must carry, e.g. the project id for Identity Platform. */
  audience: string;
  /** Where the issuer publishes its public signing keys (a JWK Set). */
  jwksUrl: string;
  /** Named in `WWW-Authenticate`. */
  realm: string;
  /**
   * How many verified tokens are kept, and for how long at most (default 1,000 and 60 s):
   * see `createVerifiedTokens`.
   */
  verifiedTokens?: VerifiedTokensOptions;
  /** The clock, in ms since the epoch (tests); default `Date.now`. */
  now?: () => number;
}

/** Who is calling: the verified token's subject. */
export interface Caller {
  subject: string;
}

/**
 * Verifies the bearer token of a request: signed by one of the issuer's published keys with
 * an asymmetric algorithm, from that issuer, for this audience, unexpired, naming a subject.
 * Missing or failing any of these is an `UnauthorizedError` (401 with `WWW-Authenticate`, RFC
 * 6750); an issuer whose keys cannot be fetched is a 503 (our dependency failed, not the
 * caller). The key set is fetched once and cached, and fetched again for an unknown key id
 * (a key rotation) at most every 30 s. A verified token is answered from memory until its
 * expiry, for at most a minute (`verifiedTokens`), as a customer sends the same token with
 * every request for its hour.
 */
export function createBearerAuth({
  issuer,
  audience,
  jwksUrl,
  realm,
  verifiedTokens = { maxEntries: 1_000, maxAgeMs: 60_000 },
  now = Date.now,
}: BearerAuthOptions) {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5_000 });
  const verified = createVerifiedTokens(verifiedTokens);

  return async function authenticate(authorization: string | undefined): Promise<Caller> {
    const token = /^Bearer +([\w.~+/-]+=*)$/i.exec(authorization?.trim() ?? '')?.[1];
    if (!token) {
      throw authorization
        ? new UnauthorizedError(realm, 'send the token as Authorization: Bearer <token>', {
            error: 'invalid_request',
          })
        : new UnauthorizedError(realm, 'this request needs a bearer token');
    }
    const verifiedAt = now();
    const known = verified.subjectOf(token, verifiedAt);
    if (known !== undefined) return { subject: known };
    let subject: unknown;
    let expiresAt: number;
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience,
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'exp'],
        clockTolerance: 5,
        currentDate: new Date(verifiedAt),
      });
      subject = payload.sub;
      expiresAt = payload.exp!;
    } catch (error) {
      if (
        error instanceof errors.JWKSTimeout ||
        error instanceof errors.JWKSInvalid ||
        // The generic error is the key set fetch's own: not 200 OK, or not JSON.
        (error instanceof errors.JOSEError && error.code === errors.JOSEError.code) ||
        // fetch's own failure: no connection, a reset, an aborted request (by name: fetch's
        // errors may come from another realm than this module's).
        ['TypeError', 'AbortError'].includes((error as { name?: unknown } | null)?.name as string)
      ) {
        // The issuer's keys could not be fetched (a timeout, a refused connection, an answer
        // that is not a key set): our dependency failed, not the caller.
        throw new ProblemError('the identity provider cannot be reached; try again shortly', {
          status: 503,
          code: 'identity_provider_unavailable',
          headers: { 'retry-after': '5' },
          retryable: true,
          cause: error,
        });
      }
      if (!(error instanceof errors.JOSEError)) throw error;
      throw new UnauthorizedError(realm, whyRefused(error), {
        error: 'invalid_token',
        cause: error,
      });
    }
    if (typeof subject !== 'string' || !customerSubject.test(subject)) {
      throw new UnauthorizedError(realm, 'the token names no valid subject', {
        error: 'invalid_token',
      });
    }
    // Kept until its exp itself: the 5 s of tolerance are granted by verifying it again.
    verified.remember(token, subject, expiresAt * 1000, verifiedAt);
    return { subject };
  };
}

/**
 * A subject that can stand for a customer: 1 to 128 visible characters (Identity Platform's
 * uid), no control character, no lone surrogate, no space.
 */
export const customerSubject = /^[^\p{Cc}\p{Cs}\s]{1,128}$/u;

function whyRefused(error: errors.JOSEError): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === 'aud'
      ? 'the token is for another audience'
      : error.claim === 'iss'
        ? 'the token is from another issuer'
        : `the token's "${error.claim}" claim is not valid`;
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey
  ) {
    return "the token is not signed by one of the issuer's keys";
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm not accepted';
  return 'the token is malformed';
}

/** 401: no credentials, or credentials that do not prove who the caller is. */
export class UnauthorizedError extends ProblemError {
  override readonly name = 'UnauthorizedError';
  constructor(
    realm: string,
    detail: string,
    { error, cause }: { error?: 'invalid_request' | 'invalid_token'; cause?: unknown } = {},
  ) {
    const challenge = error
      ? `Bearer realm="${realm}", error="${error}", error_description="${detail.replaceAll('"', "'")}"`
      : `Bearer realm="${realm}"`;
    super(detail, {
      status: 401,
      code: error ?? 'unauthenticated',
      headers: { 'www-authenticate': challenge },
      cause,
    });
  }
}
