import type { Logger, TraceContext } from '@orders/platform';

/** One piece of work (a delivery, a request, a tick) as a span of its trace. */
interface Work {
  /** Its span: its log lines are filed under it, and the events it emits carry it. */
  trace: TraceContext & { spanId: string };
  /** Ends its span, failed when `failure` is given. */
  end(failure?: unknown): void;
}

type SpanAttributes = Record<string, string | number | boolean>;

export interface Tracing {
  /** Starts the work `name` in the trace of `parent` (a new trace without one). */
  start(name: string, parent: TraceContext | undefined, attributes?: SpanAttributes): Work;
  /**
   * Exports the spans ended so far, before the function returns (Cloud Run throttles the CPU
   * after the response). Never throws: a failed export is logged.
   */
  flush(log: Logger): Promise<void>;
}
