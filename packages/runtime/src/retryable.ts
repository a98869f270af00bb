import { isTransientDbError } from '@orders/db';

/**
 * A failure expected to pass on a later delivery: the database's transient errors, and any
 * error that says so itself with `retryable: true` (a provider timeout, a saga that moved
 * concurrently). These are logged as warnings, not errors; Pub/Sub redelivers either way.
 */
export function isRetryable(error: unknown): boolean {
  return (
    isTransientDbError(error) ||
    (typeof error === 'object' &&
      error !== null &&
      (error as { retryable?: unknown }).retryable === true)
  );
}
