import { randomUUID } from 'node:crypto';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import { runInTrace } from '@orders/messaging';
import { type Logger, parseTraceContext, traceFields } from '@orders/platform';
import { bendFramework, bodyErrorOf } from './framework-patches';
import { MalformedJsonError, toProblem, UnsupportedMediaTypeError } from './http-problems';
import { processTracing } from './tracing';

export interface HttpContext {
  /** Carries the correlation id and the request's trace on every line. */
  log: Logger;
  /**
   * Minted here for each request and answered in `X-Correlation-Id`. A client's own
   * `X-Correlation-Id` is logged as `clientCorrelationId`, never adopted: the id that ties an
   * order's events and logs together is the server's alone.
   */
  correlationId: string;
}

export interface HttpResult {
  status: number;
  headers?: Record<string, string>;
  /** A value to send as JSON, or JSON text already serialized (a stored response). */
  body?: unknown;
}

export interface HttpFunctionOptions {
  logger: Logger;
  projectId: string;
  /** Bodies over this many bytes are refused with 413 before they are parsed. */
  maxBodyBytes: number;
  handle(req: Request, context: HttpContext): Promise<HttpResult>;
}

/**
 * The wrapper of every HTTP function: correlation id and trace in the log context, body
 * limits, one access log line, and every failure mapped to problem+json by `toProblem`. The
 * request is a span of the trace its `traceparent` (or `X-Cloud-Trace-Context`) names, a new
 * one without: the events it emits carry that span on (see `runInTrace`), and with tracing on
 * the span is exported before the response goes (the CPU is throttled after it).
 */
export function createHttpFunction({
  logger,
  projectId,
  maxBodyBytes,
  handle,
}: HttpFunctionOptions): HttpFunction {
  bendFramework({ maxBodyBytes, logger });
  // Made at start: a bad OTEL_ setting fails the instance, not each request.
  const tracing = processTracing(projectId);
  return async (req, res) => {
    const started = performance.now();
    const correlationId = randomUUID();
    const clientCorrelationId = clientTag(req.get('x-correlation-id'));
    const work = tracing.start(
      // One span name per route: ids in the path would make one per order.
      `${req.method} ${req.path.replace(/[\da-f]{8}(-[\da-f]{4}){3}-[\da-f]{12}/gi, '{id}')}`,
      parseTraceContext({
        traceparent: req.get('traceparent'),
        'x-cloud-trace-context': req.get('x-cloud-trace-context'),
      }),
      {
        'http.request.method': req.method,
        'url.path': req.path,
        'orders.correlation_id': correlationId,
      },
    );
    const log = logger.child({
      correlationId,
      ...(clientCorrelationId ? { clientCorrelationId } : {}),
      ...traceFields(work.trace, projectId),
    });

    let result: HttpResult;
    try {
      const bodyError = bodyErrorOf(req);
      if (bodyError) throw bodyError;
      result = await runInTrace(work.trace, () => handle(req, { log, correlationId }));
    } catch (error) {
      const problem = toProblem(error);
      if (problem.status === 500) log.error('request failed', { error });
      else if (problem.status > 500) log.warn('request failed on a dependency', { error });
      else log.info('request refused', { code: problem.body.code, errors: problem.body.errors });
      result = {
        ...problem,
        headers: { ...problem.headers, 'content-type': 'application/problem+json' },
      };
    }

    work.end(result.status >= 500 ? `HTTP ${result.status}` : undefined);
    await tracing.flush(log);

    res.status(result.status).set({
      'content-type': 'application/json',
      'x-correlation-id': correlationId,
      ...result.headers,
    });
    if (result.body === undefined) res.end();
    else res.send(typeof result.body === 'string' ? result.body : JSON.stringify(result.body));

    // A read that succeeds is routine (a client polling an order's status): debug, so that
    // info shows what changed something or was refused.
    const routine = (req.method === 'GET' || req.method === 'HEAD') && result.status < 400;
    log[routine ? 'debug' : 'info'](`${req.method} ${req.path} ${result.status}`, {
      httpRequest: {
        requestMethod: req.method,
        requestUrl: req.originalUrl,
        status: result.status,
        latency: `${((performance.now() - started) / 1000).toFixed(4)}s`,
        userAgent: req.get('user-agent'),
      },
    });
  };
}

/** A client's own request tag, if it is one we may log: 1 to 128 visible ASCII characters. */
function clientTag(header: string | undefined): string | undefined {
  return header && /^[\x21-\x7e]{1,128}$/.test(header) ? header : undefined;
}

/** The parsed JSON body; refuses other content types with 415 and an empty body with 400. */
export function jsonBody(req: Request): unknown {
  const type = req.get('content-type');
  if (!type || !/^application\/json\s*(;|$)/i.test(type)) throw new UnsupportedMediaTypeError(type);
  if (!req.rawBody?.length) throw new MalformedJsonError('the body is empty');
  return req.body;
}
