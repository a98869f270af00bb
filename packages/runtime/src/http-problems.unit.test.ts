import { describe, expect, it } from '@jest/globals';
import { ProblemError } from '@orders/platform';
import {
  MalformedJsonError,
  MalformedPathError,
  NotFoundError,
  PayloadTooLargeError,
  toProblem,
  UnsupportedMediaTypeError,
  ValidationError,
} from './http-problems';

describe('toProblem', () => {
  it.each([
    [
      new ValidationError([{ pointer: '/items/0/sku', detail: 'unknown sku X' }]),
      400,
      'validation_failed',
    ],
    [new MalformedJsonError('bad'), 400, 'malformed_json'],
    [new MalformedPathError('bad'), 400, 'malformed_path'],
    [new NotFoundError('no order'), 404, 'not_found'],
    [new ProblemError('in flight', { status: 409, code: 'some_conflict' }), 409, 'some_conflict'],
    [new PayloadTooLargeError(65536), 413, 'payload_too_large'],
    [new UnsupportedMediaTypeError('text/plain'), 415, 'unsupported_media_type'],
    [new ProblemError('reused', { status: 422, code: 'some_reuse' }), 422, 'some_reuse'],
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      503,
      'unavailable',
    ],
    [Object.assign(new Error('terminating connection'), { code: '57P01' }), 503, 'unavailable'],
  ])('maps %p to %p', (error, status, code) => {
    const { body } = toProblem(error);
    expect(body).toMatchObject({ type: 'about:blank', status, code });
  });

  it('names the fields at fault', () => {
    const issues = [{ pointer: '/currency', detail: 'must be an ISO 4217 currency code' }];
    expect(toProblem(new ValidationError(issues)).body.errors).toEqual(issues);
  });

  it('answers any ProblemError with its status, title, code, detail and headers', () => {
    const conflict = new ProblemError('a request with that key is in progress', {
      status: 409,
      code: 'in_flight',
      headers: { 'retry-after': '7' },
      retryable: true,
    });
    expect(toProblem(conflict)).toEqual({
      status: 409,
      headers: { 'retry-after': '7' },
      body: {
        type: 'about:blank',
        title: 'Conflict',
        status: 409,
        code: 'in_flight',
        detail: 'a request with that key is in progress',
      },
    });
  });

  it('never reveals an unexpected error', () => {
    const secret = new TypeError('cannot read properties of undefined (reading "password")');
    const problem = toProblem(secret);
    expect(problem.status).toBe(500);
    expect(JSON.stringify(problem)).not.toMatch(/password|TypeError|at /);
  });
});
