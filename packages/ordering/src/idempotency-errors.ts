import { ProblemError } from '@orders/platform';

/** The same Idempotency-Key was sent with a different request (HTTP 422). */
export class IdempotencyKeyReusedError extends ProblemError {
  override readonly name = 'IdempotencyKeyReusedError';
  constructor(readonly key: string) {
    super(`Idempotency-Key ${key} was already used with a different request`, {
      status: 422,
      code: 'idempotency_key_reused',
    });
  }
}

/** A request with the same Idempotency-Key is still being processed (HTTP 409). */
export class IdempotencyKeyInFlightError extends ProblemError {
  override readonly name = 'IdempotencyKeyInFlightError';
  constructor(
    readonly key: string,
    /** When the holder's lock expires and a retry may take the key over. */
    readonly retryAfterSeconds: number,
  ) {
    super(`a request with Idempotency-Key ${key} is still in progress`, {
      status: 409,
      code: 'idempotency_key_in_flight',
      headers: { 'retry-after': String(retryAfterSeconds) },
      retryable: true,
    });
  }
}
