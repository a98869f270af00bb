import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Request } from '@google-cloud/functions-framework';
import type { Logger } from '@orders/platform';
import { MalformedPathError, NotFoundError, toProblem } from './http-problems';

type Done = (error?: unknown) => void;
type ExpressApplication = { handle(req: Request, res: ServerResponse, done?: Done): void };
let frameworkErrorsAnswered = false;

/**
 * Express answers what fails before the function runs with its own HTML page, stack trace
 * included outside production: above all a path whose percent-encoding cannot be decoded
 * (`/orders/%`), which functions-framework's catch-all route fails to decode for every
 * request. This makes Express's last resort answer problem+json instead.
 *
 * WARNING: like `limitRequestBodies`, it patches the `express` module functions-framework
 * uses, so it must run before the framework builds its server, and it affects every server
 * built in the process afterwards.
 */
export function answerFrameworkErrors(logger: Logger): void {
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
