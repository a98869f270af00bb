import { AsyncLocalStorage } from 'node:async_hooks';
import type { Envelope } from '@orders/events';
import { formatTraceparent, parseTraceContext, type TraceContext } from '@orders/platform';

/**
 * The attribute that carries a message's W3C trace context: the one Google's client libraries
 * write and read, so that producers and consumers in other languages join the same trace.
 */
export const traceparentAttribute = 'googclient_traceparent';

/** The trace context of a message, from its `googclient_traceparent`; undefined without one. */
export function traceOfMessage(
  attributes: Record<string, string> | null | undefined,
): TraceContext | undefined {
  return parseTraceContext({ traceparent: attributes?.[traceparentAttribute] });
}

const activeWork = new AsyncLocalStorage<TraceContext & { spanId: string }>();

/**
 * Runs `work` as the span `trace`: the events its stores write through `outboxRows` carry it
 * (their rows keep it for the relay), so that whoever handles them continues the trace.
 */
export function runInTrace<T>(trace: TraceContext & { spanId: string }, work: () => T): T {
  return activeWork.run(trace, work);
}

/** The `traceparent` of the work running now (see `runInTrace`); undefined outside any. */
export function activeTraceparent(): string | undefined {
  const trace = activeWork.getStore();
  return trace ? formatTraceparent(trace) : undefined;
}

/** The trace context each event is published with: its writer's, or its outbox row's. */
const traceparents = new WeakMap<Envelope, string>();

export function setTraceparentOf(event: Envelope, traceparent: string | null | undefined): void {
  if (traceparent) traceparents.set(event, traceparent);
}

export function traceparentOf(event: Envelope): string | undefined {
  return traceparents.get(event);
}
