import { randomFillSync } from 'node:crypto';
import { isNativeError } from 'node:util/types';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const severities = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' } as const;
const ranks: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export type LogFields = Record<string, unknown> & { error?: unknown };

/** JSON lines that Cloud Logging reads as structured entries (severity, message, trace). */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * A line a log-based metric counts (a gauge, a delivery's outcome: infra/monitoring.tf):
   * written whatever the logger's level, at `severity` (INFO unless said), since a metric
   * whose lines LOG_LEVEL dropped would go flat and its absence alert fire.
   */
  metric(message: string, fields: LogFields, severity?: 'info' | 'warn' | 'error'): void;
  /** A logger whose every line also carries `fields` (a correlation id, a trace). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  fields?: LogFields;
  write?: (line: string) => void;
}

export function createLogger({
  level = 'info',
  fields = {},
  write = (line) => process.stdout.write(`${line}\n`),
}: LoggerOptions = {}): Logger {
  const log = (at: LogLevel, message: string, extra: LogFields = {}, always = false) => {
    if (!always && ranks[at] < ranks[level]) return;
    const { error, ...rest } = { ...fields, ...extra };
    const entry: Record<string, unknown> = {
      severity: severities[at],
      message,
      time: new Date().toISOString(),
      ...rest,
    };
    if (error !== undefined) Object.assign(entry, describeError(error, at === 'error'));
    write(safeStringify(entry));
  };
  return {
    debug: (message, extra) => log('debug', message, extra),
    info: (message, extra) => log('info', message, extra),
    warn: (message, extra) => log('warn', message, extra),
    error: (message, extra) => log('error', message, extra),
    metric: (message, extra, severity = 'info') => log(severity, message, extra, true),
    child: (extra) => createLogger({ level, write, fields: { ...fields, ...extra } }),
  };
}

/**
 * The error's name, message and code; at ERROR, its stack too (`stack_trace`, by which Error
 * Reporting groups entries). Below ERROR the failure was expected (a transient one, retried):
 * its line says what failed without a stack trace.
 */
function describeError(error: unknown, withStack: boolean): Record<string, unknown> {
  if (!isNativeError(error)) return { error: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    error: { name: error.name, message: error.message, ...(code === undefined ? {} : { code }) },
    ...(withStack ? { stack_trace: error.stack } : {}),
  };
}

function safeStringify(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry, (_key, value) =>
      typeof value === 'bigint' ? String(value) : value,
    );
  } catch {
    return JSON.stringify({ severity: entry.severity, message: entry.message, time: entry.time });
  }
}

/**
 * A W3C trace context: the trace a piece of work belongs to, and its span in it (absent when
 * the one who sent it named no span, as `X-Cloud-Trace-Context` may).
 */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  spanId?: string | undefined;
  sampled: boolean;
}

const invalidTraceId = '0'.repeat(32);
const invalidSpanId = '0'.repeat(16);

/**
 * The trace context of a W3C `traceparent` (a header, or Pub/Sub's `googclient_traceparent`
 * attribute), else of Google's `X-Cloud-Trace-Context` (`TRACE_ID/SPAN_ID;o=1`, span id in
 * decimal). Undefined without a valid one.
 */
export function parseTraceContext(headers: {
  traceparent?: unknown;
  'x-cloud-trace-context'?: unknown;
}): TraceContext | undefined {
  const traceparent = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/.exec(
    String(headers.traceparent ?? ''),
  );
  if (traceparent) {
    const [, version, traceId, spanId, flags, rest] = traceparent as unknown as [
      string,
      string,
      string,
      string,
      string,
      string?,
    ];
    // Version ff is invalid; version 00 has nothing after its flags.
    const valid =
      version !== 'ff' &&
      (version !== '00' || rest === undefined) &&
      traceId !== invalidTraceId &&
      spanId !== invalidSpanId;
    if (valid) return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
  }
  const cloud = /^([\da-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/.exec(
    String(headers['x-cloud-trace-context'] ?? ''),
  );
  if (cloud) {
    const [, traceId, span, sampled] = cloud as unknown as [string, string, string?, string?];
    if (traceId === invalidTraceId) return undefined;
    const spanHex = span ? BigInt(span).toString(16).padStart(16, '0').slice(-16) : undefined;
    return {
      traceId,
      spanId: spanHex === invalidSpanId ? undefined : spanHex,
      sampled: sampled === '1',
    };
  }
  return undefined;
}

/** The W3C `traceparent` of a span: `00-<trace id>-<span id>-<flags>`. */
export function formatTraceparent(trace: TraceContext & { spanId: string }): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? '01' : '00'}`;
}

/**
 * A new span of the trace `parent` belongs to (a new trace without one, sampled as `sampled`
 * says): the context of one piece of work, which the events it emits carry.
 */
export function childSpan(
  parent: TraceContext | undefined,
  sampled = false,
): TraceContext & { spanId: string } {
  return {
    traceId: parent?.traceId ?? randomHex(16, invalidTraceId),
    spanId: randomHex(8, invalidSpanId),
    sampled: parent?.sampled ?? sampled,
  };
}

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time (one call per 512 span ids
 * instead of one each); each byte is handed out once.
 */
const randomPool = Buffer.alloc(4096);
let randomPoolUsed = randomPool.length;

function randomHex(bytes: number, invalid: string): string {
  for (;;) {
    if (randomPoolUsed + bytes > randomPool.length) {
      randomFillSync(randomPool);
      randomPoolUsed = 0;
    }
    const hex = randomPool.toString('hex', randomPoolUsed, randomPoolUsed + bytes);
    randomPoolUsed += bytes;
    if (hex !== invalid) return hex;
  }
}

/**
 * The Cloud Logging fields that file a line under `trace` (its trace view groups lines by
 * them). Empty without a trace.
 */
export function traceFields(trace: TraceContext | undefined, projectId: string): LogFields {
  if (!trace) return {};
  return {
    'logging.googleapis.com/trace': `projects/${projectId}/traces/${trace.traceId}`,
    ...(trace.spanId ? { 'logging.googleapis.com/spanId': trace.spanId } : {}),
    'logging.googleapis.com/trace_sampled': trace.sampled,
  };
}
