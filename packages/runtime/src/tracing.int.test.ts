import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

/**
 * The built runtime in a process of its own (`fixtures/tracing-probe.cjs`): an HTTP function
 * and a consumer, served by functions-framework, each called once in the trace of a
 * traceparent. What the process loaded and what the spans file held when the calls returned
 * are the evidence.
 */
const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const parentSpan = '00f067aa0ba902b7';
/** The trace an X-Cloud-Trace-Context names. */
const cloudTraceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracing-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Probe {
  statuses: number[];
  loaded: string[];
  spans: string[];
  /** The Cloud Logging traces the process's log lines were filed under. */
  traces: string[];
}

function probe(env: Record<string, string>): Promise<Probe> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(__dirname, 'fixtures', 'tracing-probe.cjs')],
      {
        cwd: join(__dirname, '..'),
        env: {
          PATH: process.env.PATH,
          PROBE_TRACEPARENT: `00-${traceId}-${parentSpan}-01`,
          FUNCTION_NAME: 'probe',
          ...env,
        },
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe('tracing', () => {
  it('off: no OpenTelemetry module is ever loaded', async () => {
    const { statuses, loaded } = await probe({});
    expect(statuses).toEqual([200, 204]);
    expect(loaded).toEqual([]);
  }, 30_000);

  it('off whatever else says when OTEL_SDK_DISABLED=true', async () => {
    const { loaded } = await probe({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_SDK_DISABLED: 'true',
    });
    expect(loaded).toEqual([]);
  }, 30_000);

  it('on: each call is a span of the caller’s trace, exported before the call returned', async () => {
    const file = join(dir, 'spans.jsonl');
    const { statuses, loaded, spans } = await probe({ OTEL_TRACES: 'on', OTEL_TRACES_FILE: file });
    expect(statuses).toEqual([200, 204]);
    expect(loaded.some((path) => path.includes('@opentelemetry/sdk-trace'))).toBe(true);
    expect(spans.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        traceId,
        parentSpanId: parentSpan,
        name: 'GET /',
        service: 'probe',
        status: 'ok',
      }),
      expect.objectContaining({
        traceId,
        parentSpanId: parentSpan,
        name: 'analytics-loader OrderConfirmed',
        service: 'probe',
        attributes: expect.objectContaining({ 'messaging.destination.name': 'analytics' }),
      }),
    ]);
  }, 30_000);

  it('on: X-Cloud-Trace-Context without a span id continues its trace from a new root span', async () => {
    const file = join(dir, 'cloud-trace-root.jsonl');
    const { statuses, spans, traces } = await probe({
      OTEL_TRACES: 'on',
      OTEL_TRACES_FILE: file,
      PROBE_CLOUD_TRACE_CONTEXT: cloudTraceId,
    });
    expect(statuses[0]).toBe(200);
    const http = spans.map((line) => JSON.parse(line)).find((span) => span.name === 'GET /');
    expect(http).toMatchObject({ traceId: cloudTraceId, status: 'ok' });
    expect(http.parentSpanId).toBeUndefined();
    expect(traces).toContain(`projects/tracing-probe/traces/${cloudTraceId}`);
  }, 30_000);

  it('on: ;o=0 (not sampled) continues the caller’s trace in the logs, and exports no span of it', async () => {
    const file = join(dir, 'cloud-trace-unsampled.jsonl');
    const { statuses, spans, traces } = await probe({
      OTEL_TRACES: 'on',
      OTEL_TRACES_FILE: file,
      PROBE_CLOUD_TRACE_CONTEXT: `${cloudTraceId}/12345;o=0`,
    });
    expect(statuses[0]).toBe(200);
    expect(traces).toContain(`projects/tracing-probe/traces/${cloudTraceId}`);
    // The consumer's message named another trace, sampled: only its span is exported.
    expect(spans.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ traceId, name: 'analytics-loader OrderConfirmed' }),
    ]);
  }, 30_000);
});
