import { describe, expect, it } from '@jest/globals';
import {
  childSpan,
  createLogger,
  formatTraceparent,
  parseTraceContext,
  traceFields,
} from './logger';

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

  it('writes a metric line whatever its level, at the severity it names (INFO by default)', () => {
    const { lines, write } = capture();
    const log = createLogger({ write, level: 'error', fields: { service: 'housekeeping' } });
    log.info('dropped');
    log.metric('housekeeping gauge', { gauge: 'outbox_unsent', value: 0 });
    log.child({ correlationId: 'c-1' }).metric('message dead-lettered', { outcome: 'x' }, 'warn');
    expect(lines).toEqual([
      {
        severity: 'INFO',
        message: 'housekeeping gauge',
        time: expect.any(String),
        service: 'housekeeping',
        gauge: 'outbox_unsent',
        value: 0,
      },
      {
        severity: 'WARNING',
        message: 'message dead-lettered',
        time: expect.any(String),
        service: 'housekeeping',
        correlationId: 'c-1',
        outcome: 'x',
      },
    ]);
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

describe('parseTraceContext', () => {
  it('reads a W3C traceparent', () => {
    expect(
      parseTraceContext({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
    ).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      sampled: true,
    });
  });

  it('reads X-Cloud-Trace-Context and turns its decimal span id into hex', () => {
    expect(
      parseTraceContext({ 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=0' }),
    ).toEqual({
      traceId: '105445aa7843bc8bf206b12000100000',
      spanId: '0000000000000001',
      sampled: false,
    });
  });

  it('prefers the traceparent to X-Cloud-Trace-Context', () => {
    const trace = parseTraceContext({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
      'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=1',
    });
    expect(trace?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('refuses what the W3C spec calls invalid', () => {
    for (const traceparent of [
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // 00 has nothing more
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
    ]) {
      expect(parseTraceContext({ traceparent })).toBeUndefined();
    }
    expect(parseTraceContext({})).toBeUndefined();
  });

  it('reads a later version by its first four fields', () => {
    expect(
      parseTraceContext({
        traceparent: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x',
      }),
    ).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
  });
});

describe('childSpan and formatTraceparent', () => {
  it('keeps the trace and its sampling, with a span of its own', () => {
    const parent = parseTraceContext({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    const child = childSpan(parent);
    expect(child.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(child.spanId).toMatch(/^[\da-f]{16}$/);
    expect(child.spanId).not.toBe('00f067aa0ba902b7');
    expect(formatTraceparent(child)).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${child.spanId}-01`);
    expect(parseTraceContext({ traceparent: formatTraceparent(child) })).toEqual(child);
  });

  it('starts a new trace without a parent', () => {
    const a = childSpan(undefined);
    const b = childSpan(undefined, true);
    expect(a.traceId).toMatch(/^[\da-f]{32}$/);
    expect(a.traceId).not.toBe(b.traceId);
    expect(formatTraceparent(a).endsWith('-00')).toBe(true);
    expect(formatTraceparent(b).endsWith('-01')).toBe(true);
  });

  it('gives every trace and span ids of their own, also across refills of the random pool', () => {
    // 2,000 traces draw 48,000 random bytes: the 4 KiB pool is refilled a dozen times.
    const spans = Array.from({ length: 2_000 }, () => childSpan(undefined));
    const ids = spans.flatMap((span) => [span.traceId, span.spanId]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const span of spans) {
      expect(span.traceId).toMatch(/^[\da-f]{32}$/);
      expect(span.spanId).toMatch(/^[\da-f]{16}$/);
    }
  });
});

describe('traceFields', () => {
  it('files a line under its trace and span', () => {
    const fields = traceFields(
      { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true },
      'p',
    );
    expect(fields).toEqual({
      'logging.googleapis.com/trace': 'projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736',
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
      'logging.googleapis.com/trace_sampled': true,
    });
  });

  it('gives nothing without a trace', () => {
    expect(traceFields(undefined, 'p')).toEqual({});
  });
});
