import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Request } from '@google-cloud/functions-framework';
import type { Logger } from '@orders/platform';
import {
  MalformedJsonError,
  MalformedPathError,
  NotFoundError,
  PayloadTooLargeError,
  toProblem,
  UnsupportedMediaTypeError,
} from './http-problems';

/**
 * The one place functions-framework is bent, and why. The framework builds its own Express
 * server, and answers what fails before a function runs with Express's HTML error page (a
 * stack trace included outside production): a body over its 1 GiB parse limit, a body that
 * is not JSON, a path whose percent-encoding cannot be decoded. An HTTP function of this
 * project answers every request with problem+json instead, so `bendFramework` patches two
 * modules the framework loads, once per process, before the framework builds its server
 * (at module load of an HTTP function: `createHttpFunction` calls it):
 * - `body-parser`: each parser is capped at the function's body limit and hands its
 *   failures to the function (`bodyErrorOf`), which answers 413, 415 or 400;
 * - `express`: the application's last-resort handler answers problem+json.
 *
 * WARNING: it affects every server built in the process afterwards, and a second call with
 * another body limit throws. Nothing else in the project patches the framework (but
 * `quietLoggedFailures`, below, for CloudEvent functions); a function that must not be bent
 * serves itself (`node:http`) instead.
 */
export function bendFramework({ maxBodyBytes, logger }: { maxBodyBytes: number; logger: Logger }) {
  limitRequestBodies(maxBodyBytes);
  answerFrameworkErrors(logger);
}

type Middleware = (req: Request, res: unknown, next: (error?: unknown) => void) => void;
type ParserFactory = (options?: Record<string, unknown>) => Middleware;

const bodyErrors = new WeakMap<object, Error>();
let installedLimit: number | undefined;

/**
 * functions-framework parses every body (up to 1 GiB) before the function runs, and answers
 * a parse failure itself with Express's HTML error page, which carries a stack trace outside
 * production. This caps each of its body parsers at `limitBytes` and hands their failures to
 * the function instead, so that it can answer 413 or 400 as problem+json.
 */
function limitRequestBodies(limitBytes: number): void {
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

type Done = (error?: unknown) => void;
type ExpressApplication = { handle(req: Request, res: ServerResponse, done?: Done): void };
let frameworkErrorsAnswered = false;

/**
 * Express answers what fails before the function runs with its own HTML page, stack trace
 * included outside production: above all a path whose percent-encoding cannot be decoded
 * (`/orders/%`), which functions-framework's catch-all route fails to decode for every
 * request. This makes Express's last resort answer problem+json instead, logged through the
 * first logger given (one per process, as one function runs in it).
 */
function answerFrameworkErrors(logger: Logger): void {
  if (frameworkErrorsAnswered) return;
  frameworkErrorsAnswered = true;
  const framework = require.resolve('@google-cloud/functions-framework');
  const express = createRequire(framework)('express') as { application: ExpressApplication };
  const handle = express.application.handle;
  express.application.handle = function (req, res, done) {
    handle.call(this, req, res, done ?? ((error) => answer(logger, req, res, error)));
  };
}

function answer(logger: Logger, req: Request, res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  const cause =
    error === undefined
      ? new NotFoundError(`no route ${req.method} ${req.url}`)
      : error instanceof URIError
        ? new MalformedPathError('the path is not valid percent-encoding', { cause: error })
        : error;
  const problem = toProblem(cause);
  if (problem.status >= 500) logger.error('request failed before the function', { error });
  else logger.info('request refused', { code: problem.body.code });
  res.writeHead(problem.status, {
    ...problem.headers,
    'content-type': 'application/problem+json; charset=utf-8',
  });
  res.end(JSON.stringify(problem.body));
}

/** Marks a failure the function has logged already: the framework answers 500 without a word. */
export const loggedFailure = Symbol.for('orders.loggedFailure');

let loggedFailuresQuiet = false;

/**
 * functions-framework answers a CloudEvent function's failure with 500 (what makes Pub/Sub
 * redeliver) and prints the failure's stack to stderr as plain text: a second, unstructured
 * line beside the function's own JSON entry, and a stack trace for an expected retry. This
 * keeps the 500 and leaves out the print for a failure marked `loggedFailure` (the consumer
 * has written its one JSON line); any other failure is printed as before. Once per process.
 */
export function quietLoggedFailures(): void {
  if (loggedFailuresQuiet) return;
  loggedFailuresQuiet = true;
  const framework = require.resolve('@google-cloud/functions-framework');
  // The framework's own modules call it through this exports object, so replacing it here
  // reaches every caller (the CloudEvent wrapper's `sendResponse` among them).
  const logger = createRequire(framework)('./logger') as {
    sendCrashResponse(options: { err: unknown; silent?: boolean }): void;
  };
  const sendCrashResponse = logger.sendCrashResponse;
  logger.sendCrashResponse = (options) => {
    const logged =
      typeof options.err === 'object' &&
      options.err !== null &&
      (options.err as { [loggedFailure]?: unknown })[loggedFailure] === true;
    sendCrashResponse(logged ? { ...options, silent: true } : options);
  };
}
