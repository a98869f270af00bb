/**
 * The provider could not answer: it was unavailable, or the operation ran and its answer was
 * lost. Either way, retrying with the same idempotency key is safe and settles it.
 */
export class TransientProviderError extends Error {
  override readonly name = 'TransientProviderError';
  readonly retryable = true;
  constructor(
    message: string,
    readonly idempotencyKey: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The idempotency key was already used for a different request (another amount, another
 * payment): the provider refuses rather than answer with an outcome that is not this one's.
 */
export class ProviderIdempotencyConflictError extends Error {
  override readonly name = 'ProviderIdempotencyConflictError';
  constructor(
    readonly idempotencyKey: string,
    readonly detail: string,
  ) {
    super(`idempotency key ${idempotencyKey} was used for another request: ${detail}`);
  }
}
