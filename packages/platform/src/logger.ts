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
  const log = (at: LogLevel, message: string, extra: LogFields = {}) => {
    if (ranks[at] < ranks[level]) return;
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
 * The Cloud Logging trace fields for a request, from a W3C `traceparent` or Google's
 * `X-Cloud-Trace-Context` (`TRACE_ID/SPAN_ID;o=1`, span id in decimal). Empty without one.
 */
export function traceFields(
  headers: { traceparent?: unknown; 'x-cloud-trace-context'?: unknown },
  projectId: string,
): LogFields {
  const traceparent = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/.exec(
    String(headers.traceparent ?? ''),
  );
  if (traceparent) {
    const [, trace, span, flags] = traceparent as unknown as [string, string, string, string];
    return fields(projectId, trace, span, (Number.parseInt(flags, 16) & 1) === 1);
  }
  const cloud = /^([\da-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/.exec(
    String(headers['x-cloud-trace-context'] ?? ''),
  );
  if (cloud) {
    const [, trace, span, sampled] = cloud as unknown as [string, string, string?, string?];
    const spanHex = span ? BigInt(span).toString(16).padStart(16, '0').slice(-16) : undefined;
    return fields(projectId, trace, spanHex, sampled === '1');
  }
  return {};
}

function fields(projectId: string, trace: string, span: string | undefined, sampled: boolean) {
  return {
    'logging.googleapis.com/trace': `projects/${projectId}/traces/${trace}`,
    ...(span ? { 'logging.googleapis.com/spanId': span } : {}),
    'logging.googleapis.com/trace_sampled': sampled,
  };
}
