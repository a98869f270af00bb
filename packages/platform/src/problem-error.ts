/** RFC 9457 titles of the statuses this project answers with. */
const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

export interface ProblemErrorOptions {
  /** The HTTP status a client is answered with. */
  status: number;
  /** A stable code clients may branch on (`validation_failed`, `idempotency_key_reused`). */
  code: string;
  /** Headers the answer carries (`retry-after`, `allow`). */
  headers?: Record<string, string>;
  /** Whether the same request may succeed later (a 409 in flight, a 503). */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * The root of every failure a client is told about: it carries its HTTP status, stable
 * code, headers and retryability, so that the HTTP wrapper maps any of them the same way
 * (`toProblem` of @orders/runtime) and a domain defines its own without the wrapper knowing.
 * Its message is the problem's `detail`: say what is wrong, never leak internals.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly headers: Record<string, string>;
  readonly retryable: boolean;

  constructor(detail: string, options: ProblemErrorOptions) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.title = titles[options.status] ?? 'Error';
    this.headers = options.headers ?? {};
    this.retryable = options.retryable ?? false;
  }
}
