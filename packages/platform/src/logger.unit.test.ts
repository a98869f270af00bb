import { describe, expect, it } from '@jest/globals';
import { createLogger, traceFields } from './logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line: string) => lines.push(JSON.parse(line)) };
}

describe('createLogger', () => {
  it('writes one JSON line per entry with Cloud Logging severity and UTC time', () => {
    const { lines, write } = capture();
    const log = createLogger({ write, fields: { service: 'place-order' } });
    log.info('hello', { orderId: 'o-1' });
    log.warn('careful');
    expect(lines).toEqual([
      {
        severity: 'INFO',
        message: 'hello',
        time: expect.stringMatching(/Z$/),
        service: 'place-order',
        orderId: 'o-1',
      },
      { severity: 'WARNING', message: 'careful', time: expect.any(String), service: 'place-order' },
    ]);
  });

  it('carries child fields such as the correlation id on every line', () => {
    const { lines, write } = capture();
    const log = createLogger({ write }).child({ correlationId: 'c-1' }).child({ eventId: 'e-1' });
    log.info('a');
    log.error('b');
    for (const line of lines) expect(line).toMatchObject({ correlationId: 'c-1', eventId: 'e-1' });
  });

  it('drops entries below its level', () => {
    const { lines, write } = capture();
    const log = createLogger({ write, level: 'warn' });
    log.debug('x');
    log.info('y');
    log.warn('z');
    expect(lines.map((line) => line.message)).toEqual(['z']);
  });

  it('logs an error with its stack for Error Reporting', () => {
    const { lines, write } = capture();
    const error = Object.assign(new Error('boom'), { code: 'ECONNREFUSED' });
    createLogger({ write }).error('failed', { error });
    expect(lines[0]).toMatchObject({
      severity: 'ERROR',
      error: { name: 'Error', message: 'boom', code: 'ECONNREFUSED' },
      stack_trace: expect.stringContaining('Error: boom'),
    });
  });

  it('logs an expected failure (below ERROR) in one line, without a stack trace', () => {
    const { lines, write } = capture();
    const error = Object.assign(new Error('provider unavailable'), { retryable: true });
    createLogger({ write }).warn('handling failed; Pub/Sub will redeliver', { error });
    expect(lines[0]).toEqual({
      severity: 'WARNING',
      message: 'handling failed; Pub/Sub will redeliver',
      time: expect.any(String),
      error: { name: 'Error', message: 'provider unavailable' },
    });
  });
});

describe('traceFields', () => {
  it('reads a W3C traceparent', () => {
    const fields = traceFields(
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      'p',
    );
    expect(fields).toEqual({
      'logging.googleapis.com/trace': 'projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736',
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
      'logging.googleapis.com/trace_sampled': true,
    });
  });

  it('reads X-Cloud-Trace-Context and turns its decimal span id into hex', () => {
    const fields = traceFields(
      { 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=0' },
      'p',
    );
    expect(fields).toEqual({
      'logging.googleapis.com/trace': 'projects/p/traces/105445aa7843bc8bf206b12000100000',
      'logging.googleapis.com/spanId': '0000000000000001',
      'logging.googleapis.com/trace_sampled': false,
    });
  });

  it('gives nothing for a missing or malformed header', () => {
    expect(traceFields({}, 'p')).toEqual({});
    expect(traceFields({ traceparent: 'garbage' }, 'p')).toEqual({});
  });
});
