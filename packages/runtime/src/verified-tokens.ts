export interface VerifiedTokensOptions {
  /** The most tokens kept; the oldest verified goes first. */
  maxEntries: number;
  /** The longest a token is trusted without verifying it again, whatever its expiry. */
  maxAgeMs: number;
}

/**
 * The subjects of bearer tokens verified lately, keyed by the token itself, so that a
 * customer's next requests with the same token skip the signature check (an ECDSA or RSA
 * verification, the largest CPU cost of an intake request after its statements). Only a
 * token that passed every check is kept; it is answered until its `exp` or `maxAgeMs` after
 * its verification, whichever comes first (the remote key set, too, is trusted for minutes),
 * then verified again. At most `maxEntries` tokens are kept.
 */
export function createVerifiedTokens({ maxEntries, maxAgeMs }: VerifiedTokensOptions) {
  const tokens = new Map<string, { subject: string; validUntilMs: number }>();
  return {
    /** The subject of `token` if it was verified and is still trusted at `nowMs`. */
    subjectOf(token: string, nowMs: number): string | undefined {
      const entry = tokens.get(token);
      if (entry === undefined) return undefined;
      if (nowMs < entry.validUntilMs) return entry.subject;
      tokens.delete(token);
      return undefined;
    },
    /** Keeps `token`, verified at `nowMs`, whose `exp` is `expiresAtMs`. */
    remember(token: string, subject: string, expiresAtMs: number, nowMs: number): void {
      const validUntilMs = Math.min(expiresAtMs, nowMs + maxAgeMs);
      if (validUntilMs <= nowMs || maxEntries < 1) return;
      tokens.delete(token);
      while (tokens.size >= maxEntries) tokens.delete(tokens.keys().next().value as string);
      tokens.set(token, { subject, validUntilMs });
    },
    get size(): number {
      return tokens.size;
    },
  };
}
