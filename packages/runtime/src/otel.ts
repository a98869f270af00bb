import { appendFile } from 'node:fs/promises';
import { ROOT_CONTEXT, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  type IdGenerator,
  ParentBasedSampler,
  RandomIdGenerator,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { applicationDefaultCredentials, messageOf, withoutTrailingSlashes } from '@orders/platform';
import type { Tracing } from './work-span';

/** The longest a function waits for its spans' export before it answers. */
const exportTimeoutMs = 2_000;

/** Google's OTLP endpoint (the Telemetry API) for traces. */
const googleTracesEndpoint = 'https://telemetry.googleapis.com/v1/traces';

/**
 * OpenTelemetry tracing from its minimal pieces: a tracer provider, a batch processor and one
 * exporter. Spans go to `OTEL_TRACES_FILE` as JSON lines when it is set (the local stack),
 * else over OTLP (protobuf over HTTP) to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, by default Google's Telemetry API with
 * Application Default Credentials (google-auth-library). This module is loaded only when
 * tracing is on (see `processTracing`).
 * @public (required by name in tracing.ts, which knip does not follow)
 */
export function createOtelTracing({
  projectId,
  env,
}: {
  projectId: string;
  env: NodeJS.ProcessEnv;
}): Tracing {
  const exporter = env.OTEL_TRACES_FILE
    ? fileExporter(env.OTEL_TRACES_FILE)
    : otlpExporter(tracesEndpoint(env));
  const ids = new TraceIds();
  const provider = new TracerProvider({
    idGenerator: ids,
    sampler: samplerOf(env),
    resource: resourceFromAttributes({
      'service.name':
        env.OTEL_SERVICE_NAME || env.K_SERVICE || env.FUNCTION_NAME || 'orders-function',
      'gcp.project_id': projectId,
    }),
    // Each function awaits the export before it answers (Cloud Run throttles the CPU after the
    // response): a slow or unreachable endpoint may cost a request this long, not the SDK's
    // default 30 s. Spans that miss it are dropped, with a warning; the request is not.
    spanProcessors: [new BatchSpanProcessor({ exporter, exportTimeoutMillis: exportTimeoutMs })],
  });
  const tracer = provider.getTracer('@orders/runtime');

  return {
    start(name, parent, attributes = {}) {
      // A parent with a span is continued as the remote parent, sampled as it says (the
      // default sampler follows it: an unsampled caller's trace goes on, unexported). A caller
      // that names only a trace (X-Cloud-Trace-Context without a span id) gets a root span in
      // that trace, sampled by the sampler.
      const span = parent?.spanId
        ? tracer.startSpan(
            name,
            { attributes },
            trace.setSpanContext(ROOT_CONTEXT, {
              traceId: parent.traceId,
              spanId: parent.spanId,
              traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
              isRemote: true,
            }),
          )
        : ids.withTraceId(parent?.traceId, () =>
            tracer.startSpan(name, { attributes }, ROOT_CONTEXT),
          );
      const { traceId, spanId, traceFlags } = span.spanContext();
      return {
        trace: { traceId, spanId, sampled: (traceFlags & TraceFlags.SAMPLED) !== 0 },
        end(failure) {
          if (failure !== undefined) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(failure) });
          }
          span.end();
        },
      };
    },
    async flush(log) {
      try {
        await provider.forceFlush();
      } catch (error) {
        log.warn('exporting spans failed', { error });
      }
    },
  };
}

/**
 * Random ids, but the trace id of a root span started by `withTraceId`: the SDK starts a span
 * without a valid parent in a new trace, and asks its id generator (synchronously) for the id.
 */
class TraceIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private next: string | undefined;

  withTraceId<T>(traceId: string | undefined, start: () => T): T {
    this.next = traceId;
    try {
      return start();
    } finally {
      this.next = undefined;
    }
  }

  generateTraceId(): string {
    return this.next ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

function tracesEndpoint(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    return `${withoutTrailingSlashes(env.OTEL_EXPORTER_OTLP_ENDPOINT)}/v1/traces`;
  }
  return googleTracesEndpoint;
}

/** OTLP over HTTP; to Google's endpoint with the headers of Application Default Credentials. */
function otlpExporter(url: string): SpanExporter {
  if (new URL(url).hostname !== 'telemetry.googleapis.com') {
    return new OTLPTraceExporter({ url, timeoutMillis: exportTimeoutMs });
  }
  return new OTLPTraceExporter({
    url,
    timeoutMillis: exportTimeoutMs,
    headers: applicationDefaultCredentials('https://www.googleapis.com/auth/trace.append'),
  });
}

/** One span as a line of the local spans file (what `pnpm trace` reads). */
interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  start: string;
  durationMs: number;
  status: 'ok' | 'error';
  error?: string;
  attributes: Record<string, unknown>;
}

/** Appends each span to `path` as a JSON line. */
function fileExporter(path: string): SpanExporter {
  return {
    export(spans, done) {
      const lines = spans.map((span) => `${JSON.stringify(spanLine(span))}\n`).join('');
      appendFile(path, lines).then(
        () => done({ code: 0 }),
        (error: Error) => done({ code: 1, error }),
      );
    },
    shutdown: async () => {},
  };
}

function spanLine(span: ReadableSpan): SpanLine {
  const [seconds, nanos] = span.startTime;
  const [durationSeconds, durationNanos] = span.duration;
  const parentSpanId = span.parentSpanContext?.spanId;
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name: span.name,
    service: String(span.resource.attributes['service.name']),
    start: new Date(seconds * 1000 + nanos / 1e6).toISOString(),
    durationMs: Math.round(durationSeconds * 1000 + durationNanos / 1e6),
    status: span.status.code === SpanStatusCode.ERROR ? 'error' : 'ok',
    ...(span.status.message ? { error: span.status.message } : {}),
    attributes: { ...span.attributes },
  };
}

/**
 * The sampler that `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`, a ratio) names, as
 * the OpenTelemetry specification spells them (this SDK reads neither variable itself); by
 * default `parentbased_always_on`. Cloud Run passes its own sampling decision in a request's
 * `traceparent`, and a parent-based sampler follows it: `always_on` or `traceidratio` export
 * the orders Cloud Run did not sample.
 */
export function samplerOf(env: NodeJS.ProcessEnv): Sampler {
  const name = env.OTEL_TRACES_SAMPLER || 'parentbased_always_on';
  const ratio = () => {
    const arg = env.OTEL_TRACES_SAMPLER_ARG;
    const value = arg === undefined || arg === '' ? 1 : Number(arg);
    if (!(value >= 0 && value <= 1)) {
      throw new Error(
        `OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, not ${JSON.stringify(arg)}`,
      );
    }
    return new TraceIdRatioBasedSampler(value);
  };
  const samplers: Record<string, () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: ratio,
    parentbased_always_on: () => new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    parentbased_always_off: () => new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    parentbased_traceidratio: () => new ParentBasedSampler({ root: ratio() }),
  };
  const sampler = samplers[name];
  if (!sampler) {
    throw new Error(
      `OTEL_TRACES_SAMPLER must be one of ${Object.keys(samplers).join(', ')}, not ${JSON.stringify(name)}`,
    );
  }
  return sampler();
}
