import { isNativeError } from 'node:util/types';

/** SQLSTATE classes and codes worth retrying: the same statement may succeed later. */
const transientStates = new Set(['40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03']);
const transientClasses = ['08', '53'];
const transientNetworkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * True when a database error is worth a retry: the server is unreachable or restarting,
 * the connection dropped, or the transaction lost a serialization, deadlock or lock wait.
 */
export function isTransientDbError(error: unknown): boolean {
  // Errors made by Node itself (ECONNREFUSED) may come from another realm than ours (a test
  // runner's sandbox), so `instanceof Error` is not a reliable test.
  if (!isNativeError(error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (transientStates.has(code) || transientNetworkCodes.has(code)) return true;
    if (transientClasses.some((prefix) => code.startsWith(prefix)) && code.length === 5)
      return true;
  }
  if (
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      error.message,
    )
  ) {
    return true;
  }
  if ('errors' in error && Array.isArray(error.errors))
    return error.errors.some(isTransientDbError);
  return error.cause !== undefined && isTransientDbError(error.cause);
}

/** SQLSTATE classes that no retry fixes: data exceptions (22) and integrity constraint violations (23). */
const permanentClasses = ['22', '23'];

/**
 * True when the database refused a statement for good: the same statement on the same data
 * fails the same way on every retry (a constraint violation, an invalid value). Looks at the
 * error itself only: an error that wraps one decides for itself.
 */
export function isPermanentDbError(error: unknown): error is Error & { code: string } {
  if (!isNativeError(error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    code.length === 5 &&
    permanentClasses.some((prefix) => code.startsWith(prefix))
  );
}
