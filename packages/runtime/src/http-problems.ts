import { isTransientDbError } from '@orders/db';
import { ProblemError } from '@orders/platform';

/** Where a problem lies: a JSON Pointer into the body, a header or a path parameter. */
export type FieldIssue = { detail: string } & (
  | { pointer: string }
  | { header: string }
  | { parameter: string }
);

/** The request is invalid; each issue names the field at fault (400). */
export class ValidationError extends ProblemError {
  override readonly name = 'ValidationError';
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((issue) => issue.detail).join('; '), {
      status: 400,
      code: 'validation_failed',
    });
  }
}

export class MalformedJsonError extends ProblemError {
  override readonly name = 'MalformedJsonError';
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(detail, { status: 400, code: 'malformed_json', ...options });
  }
}

/** The request target cannot be decoded (a `%` that is not followed by two hex digits). */
export class MalformedPathError extends ProblemError {
  override readonly name = 'MalformedPathError';
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(detail, { status: 400, code: 'malformed_path', ...options });
  }
}

export class PayloadTooLargeError extends ProblemError {
  override readonly name = 'PayloadTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`the body exceeds ${limitBytes} bytes`, { status: 413, code: 'payload_too_large' });
  }
}

export class UnsupportedMediaTypeError extends ProblemError {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(readonly contentType: string | undefined) {
    super(`content type ${contentType ?? '(none)'} is not supported; send application/json`, {
      status: 415,
      code: 'unsupported_media_type',
    });
  }
}

/** The caller is known and may not do this (403); `issues` name the fields at fault. */
export class ForbiddenError extends ProblemError {
  override readonly name = 'ForbiddenError';
  constructor(
    detail: string,
    code: string,
    readonly issues?: FieldIssue[],
  ) {
    super(detail, { status: 403, code });
  }
}

export class NotFoundError extends ProblemError {
  override readonly name = 'NotFoundError';
  constructor(detail: string) {
    super(detail, { status: 404, code: 'not_found' });
  }
}

export class MethodNotAllowedError extends ProblemError {
  override readonly name = 'MethodNotAllowedError';
  constructor(readonly allowed: readonly string[]) {
    super(`use ${allowed.join(' or ')}`, {
      status: 405,
      code: 'method_not_allowed',
      headers: { allow: allowed.join(', ') },
    });
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
 * The one mapping from a failure to what the client sees: a ProblemError (@orders/platform)
 * says it itself, wherever it was defined; an unreachable database is 503. Anything
 * unexpected is a bare 500: its message and stack stay in the logs, never in the response.
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
    return problem(400, error.title, error.code, 'The request has invalid fields.', {
      errors: error.issues,
    });
  }
  // What the JSON parser said of a malformed body stays in the logs.
  if (error instanceof MalformedJsonError) {
    return problem(400, error.title, error.code, 'The body is not valid JSON.');
  }
  if (error instanceof ProblemError) {
    const issues = error instanceof ForbiddenError ? error.issues : undefined;
    return problem(
      error.status,
      error.title,
      error.code,
      error.message,
      issues ? { errors: issues } : {},
      error.headers,
    );
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
