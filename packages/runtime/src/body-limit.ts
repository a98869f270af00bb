import { createRequire } from 'node:module';
import type { Request } from '@google-cloud/functions-framework';
import {
  MalformedJsonError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from './http-problems';

type Middleware = (req: Request, res: unknown, next: (error?: unknown) => void) => void;
type ParserFactory = (options?: Record<string, unknown>) => Middleware;

const bodyErrors = new WeakMap<object, Error>();
let installedLimit: number | undefined;

/**
 * functions-framework parses every body (up to 1 GiB) before the function runs, and answers
 * a parse failure itself with Express's HTML error page, which carries a stack trace outside
 * production. This caps each of its body parsers at `limitBytes` and hands their failures to
 * the function instead, so that it can answer 413 or 400 as problem+json.
 *
 * WARNING: it patches the `body-parser` module functions-framework uses, so it must run
 * before the framework builds its server: at module load of an HTTP function, which is what
 * `createHttpFunction` does. It affects every server built in the process afterwards.
 */
export function limitRequestBodies(limitBytes: number): void {
  if (installedLimit !== undefined) {
    if (installedLimit !== limitBytes) throw new Error('request body limit already installed');
    return;
  }
  installedLimit = limitBytes;
  const framework = require.resolve('@google-cloud/functions-framework');
  const bodyParser = createRequire(framework)('body-parser') as Record<string, ParserFactory>;
  for (const kind of ['json', 'raw', 'text', 'urlencoded']) {
    const original = bodyParser[kind]!;
    bodyParser[kind] = (options) => {
      const parse = original({ ...options, limit: limitBytes });
      return (req, res, next) =>
        parse(req, res, (error) => {
          if (error === undefined) return next();
          const status = (error as { status?: unknown }).status;
          if (typeof status !== 'number' || status >= 500) return next(error);
          bodyErrors.set(req, describe(status, error, limitBytes, req));
          next();
        });
    };
  }
}

/** The error a body parser met on this request, if any. */
export function bodyErrorOf(req: Request): Error | undefined {
  return bodyErrors.get(req);
}

function describe(status: number, error: unknown, limitBytes: number, req: Request): Error {
  if (status === 413) return new PayloadTooLargeError(limitBytes);
  if (status === 415) return new UnsupportedMediaTypeError(req.get('content-type'));
  return new MalformedJsonError('the body is not valid JSON', { cause: error });
}
