import { isTransientDbError } from '@orders/db';
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from '@orders/messaging';

/** Where a problem lies: a JSON Pointer into the body, a header or a path parameter. */
export type FieldIssue = { detail: string } & (
  | { pointer: string }
  | { header: string }
  | { parameter: string }
);

/** The request is invalid; each issue names the field at fault (400). */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((issue) => issue.detail).join('; '));
  }
}

export class MalformedJsonError extends Error {
  override readonly name = 'MalformedJsonError';
}

/** The request target cannot be decoded (a `%` that is not followed by two hex digits). */
export class MalformedPathError extends Error {
  override readonly name = 'MalformedPathError';
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`the body exceeds ${limitBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends Error {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(readonly contentType: string | undefined) {
    super(`content type ${contentType ?? '(none)'} is not supported; send application/json`);
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

export class MethodNotAllowedError extends Error {
  override readonly name = 'MethodNotAllowedError';
  constructor(readonly allowed: readonly string[]) {
    super(`use ${allowed.join(' or ')}`);
  }
}

/** RFC 9457 problem details, with a stable `code` for clients. */
export interface Problem {
  type: 'about:blank';
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: FieldIssue[];
}

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: Problem;
}

/**
 * The one mapping from a failure to what the client sees. Anything unexpected is a bare
 * 500: its message and stack stay in the logs, never in the response.
 */
export function toProblem(error: unknown): ProblemResponse {
  const problem = (
    status: number,
    title: string,
    code: string,
    detail: string,
    extra: Partial<Problem> = {},
    headers: Record<string, string> = {},
  ): ProblemResponse => ({
    status,
    headers,
    body: { type: 'about:blank', title, status, code, detail, ...extra },
  });

  if (error instanceof ValidationError) {
    return problem(400, 'Bad Request', 'validation_failed', 'The request has invalid fields.', {
      errors: error.issues,
    });
  }
  if (error instanceof MalformedJsonError) {
    return problem(400, 'Bad Request', 'malformed_json', 'The body is not valid JSON.');
  }
  if (error instanceof MalformedPathError) {
    return problem(400, 'Bad Request', 'malformed_path', error.message);
  }
  if (error instanceof NotFoundError) return problem(404, 'Not Found', 'not_found', error.message);
  if (error instanceof MethodNotAllowedError) {
    return problem(
      405,
      'Method Not Allowed',
      'method_not_allowed',
      error.message,
      {},
      {
        allow: error.allowed.join(', '),
      },
    );
  }
  if (error instanceof IdempotencyKeyInFlightError) {
    return problem(
      409,
      'Conflict',
      'idempotency_key_in_flight',
      error.message,
      {},
      {
        'retry-after': String(error.retryAfterSeconds),
      },
    );
  }
  if (error instanceof PayloadTooLargeError) {
    return problem(413, 'Content Too Large', 'payload_too_large', error.message);
  }
  if (error instanceof UnsupportedMediaTypeError) {
    return problem(415, 'Unsupported Media Type', 'unsupported_media_type', error.message);
  }
  if (error instanceof IdempotencyKeyReusedError) {
    return problem(422, 'Unprocessable Content', 'idempotency_key_reused', error.message);
  }
  if (isTransientDbError(error)) {
    return problem(
      503,
      'Service Unavailable',
      'unavailable',
      'Try again shortly.',
      {},
      {
        'retry-after': '2',
      },
    );
  }
  return problem(
    500,
    'Internal Server Error',
    'internal',
    'The request failed; it has been logged.',
  );
}
