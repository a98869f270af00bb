import { runInTrace } from '@orders/messaging';
import { childSpan, type LogFields, type TraceContext, traceFields } from '@orders/platform';
import type { Tracing } from './work-span';

/**
 * Whether spans are exported: `OTEL_TRACES=on`, or the standard OpenTelemetry variables name
 * a traces exporter other than `none` or an OTLP endpoint; `OTEL_SDK_DISABLED=true` turns it
 * off whatever else says.
 */
export function tracingEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const traces = env.OTEL_TRACES?.trim().toLowerCase();
  if (traces !== undefined && traces !== '') {
    if (traces === 'on') return true;
    if (traces === 'off') return false;
    throw new Error(`OTEL_TRACES must be on or off, not ${env.OTEL_TRACES}`);
  }
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

/**
 * Without tracing, work still gets a span id of its own in its parent's trace (what its logs
 * and its events carry), and no OpenTelemetry module is loaded.
 */
const untraced: Tracing = {
  start: (_name, parent) => ({ trace: childSpan(parent), end: () => {} }),
  flush: async () => {},
};

let instance: Tracing | undefined;

/**
 * The tracing of this process, made on first use from `env`: OpenTelemetry (`./otel`, loaded
 * only then) when `tracingEnabled`, else `untraced`.
 */
export function processTracing(projectId: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  if (!instance) {
    if (tracingEnabled(env)) {
      const { createOtelTracing } = require('./otel') as typeof import('./otel');
      instance = createOtelTracing({ projectId, env });
    } else instance = untraced;
  }
  return instance;
}

/**
 * Runs `work` as the span `name` of the trace `parent` (a new trace without one), inside the
 * work of a delivery or a tick that belongs to another trace (a saga deadline housekeeping
 * fires, in its order's trace): the events its stores write carry the span, and `work` gets
 * the log fields that file its lines under it. Exported with the process's other spans.
 */
export async function runInSpan<T>(
  name: string,
  parent: TraceContext | undefined,
  projectId: string,
  work: (logFields: LogFields) => Promise<T>,
): Promise<T> {
  const span = processTracing(projectId).start(name, parent);
  try {
    const result = await runInTrace(span.trace, () => work(traceFields(span.trace, projectId)));
    span.end();
    return result;
  } catch (error) {
    span.end(error);
    throw error;
  }
}
