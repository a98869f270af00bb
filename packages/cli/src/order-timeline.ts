import { parseTraceContext, textTable } from '@orders/platform';

/** What the database records of an order, for its timeline. */
export interface OrderRecord {
  orderId: string;
  status: string;
  cancelReason: string | null;
  correlationId: string;
  createdAt: Date;
  /** Its events in the outbox, in the order they were written. */
  events: OutboxEventRecord[];
}

interface OutboxEventRecord {
  id: string;
  type: string;
  producer: string | null;
  traceparent: string | null;
  writtenAt: Date;
  sentAt: Date | null;
  /** Routes a relay run was refused by, before it went (or still). */
  attempts: number;
  setAsideReason: string | null;
}

/** One hop: a function handling one message (or one request) of the order. */
interface Hop {
  /** When handling started: the line's time less its handling time. */
  start: Date;
  function: string;
  /** The event type handled, or the request (`POST /orders`). */
  what: string;
  eventId?: string;
  /** How long the message waited in its queue, from its publish time. */
  queueMs?: number;
  handlingMs?: number;
  deliveryAttempt?: number;
  outcome:
    | 'accepted'
    | 'refused'
    | 'handled'
    | 'duplicate'
    | 'dead-lettered'
    | 'retried'
    | 'logged';
  /** What it emitted, why it was dead-lettered or retried, or the line's message. */
  detail?: string;
  traceId?: string;
}

/** A span of the order's traces, from the local spans file (OTEL_TRACES=on). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  start: string;
  durationMs: number;
  status: string;
}

export interface OrderTimeline {
  order: OrderRecord;
  hops: Hop[];
  /** Every trace id the order's logs and outbox rows carry (one, when all is well). */
  traceIds: string[];
  spans: SpanRecord[];
}

/**
 * The timeline of `order` from the functions' log lines (`<function> | <JSON>`, as the local
 * stack writes them) and, when given, the spans file's lines: the lines of its correlation id,
 * each hop with its queue wait, handling time and outcome, in the order handling started.
 */
export function orderTimeline(
  order: OrderRecord,
  logLines: Iterable<string>,
  spanLines: Iterable<string> = [],
): OrderTimeline {
  const hops: Hop[] = [];
  const traceIds = new Set<string>();
  for (const event of order.events) {
    const trace = parseTraceContext({ traceparent: event.traceparent });
    if (trace) traceIds.add(trace.traceId);
  }
  for (const line of logLines) {
    const hop = hopOf(line, order.correlationId);
    if (!hop) continue;
    hops.push(hop);
    if (hop.traceId) traceIds.add(hop.traceId);
  }
  hops.sort((a, b) => a.start.getTime() - b.start.getTime());
  const spans: SpanRecord[] = [];
  for (const line of spanLines) {
    const span = parseJson(line) as Partial<SpanRecord> | undefined;
    if (span?.traceId && traceIds.has(span.traceId)) spans.push(span as SpanRecord);
  }
  spans.sort((a, b) => a.start.localeCompare(b.start));
  return { order, hops, traceIds: [...traceIds], spans };
}

const linePattern = /^([a-z][a-z0-9-]*) \| (\{.*\})\s*$/;

function hopOf(line: string, correlationId: string): Hop | undefined {
  const match = linePattern.exec(line);
  if (!match) return undefined;
  const entry = parseJson(match[2]!) as Record<string, unknown> | undefined;
  if (!entry || entry.correlationId !== correlationId) return undefined;
  const time = Date.parse(String(entry.time));
  if (Number.isNaN(time)) return undefined;
  const message = String(entry.message ?? '');
  const request = entry.httpRequest as { latency?: string; status?: number } | undefined;
  const handlingMs = request?.latency
    ? Math.round(Number.parseFloat(request.latency) * 1000)
    : numberOf(entry.handlingMs);
  const trace = /\/traces\/([\da-f]{32})$/.exec(
    String(entry['logging.googleapis.com/trace'] ?? ''),
  );
  const outcome = request
    ? (request.status ?? 500) < 400
      ? 'accepted'
      : 'refused'
    : outcomes[message];
  if (!outcome && entry.severity !== 'WARNING' && entry.severity !== 'ERROR') return undefined;
  const queueMs = numberOf(entry.queueMs);
  const deliveryAttempt = numberOf(entry.deliveryAttempt);
  const detail = detailOf(outcome ?? 'logged', entry, message);
  return {
    start: new Date(time - (handlingMs ?? 0)),
    function: match[1]!,
    what: request ? message.replace(/ \d{3}$/, '') : String(entry.eventType ?? '(undecoded)'),
    ...(typeof entry.eventId === 'string' ? { eventId: entry.eventId } : {}),
    ...(queueMs === undefined ? {} : { queueMs }),
    ...(handlingMs === undefined ? {} : { handlingMs }),
    ...(deliveryAttempt === undefined ? {} : { deliveryAttempt }),
    outcome: outcome ?? 'logged',
    ...(detail ? { detail } : {}),
    ...(trace ? { traceId: trace[1]! } : {}),
  };
}

const outcomes: Record<string, Hop['outcome']> = {
  'event handled': 'handled',
  'duplicate delivery ignored': 'duplicate',
  'message dead-lettered': 'dead-lettered',
  'handling failed; Pub/Sub will redeliver': 'retried',
};

function detailOf(
  outcome: Hop['outcome'],
  entry: Record<string, unknown>,
  message: string,
): string | undefined {
  switch (outcome) {
    case 'accepted':
    case 'refused':
      return String((entry.httpRequest as { status?: number }).status);
    case 'handled': {
      const emitted = Array.isArray(entry.emitted) ? entry.emitted : [];
      return emitted.length > 0 ? `emitted ${emitted.join(', ')}` : undefined;
    }
    case 'dead-lettered':
      return String(entry.reason ?? '');
    case 'retried': {
      const error = entry.error as { message?: unknown } | string | undefined;
      return typeof error === 'object' ? String(error?.message ?? '') : String(error ?? '');
    }
    case 'duplicate':
      return undefined;
    case 'logged':
      return message;
  }
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The timeline as text: the order, its trace, each hop, its events, and its spans. */
export function formatOrderTimeline({ order, hops, traceIds, spans }: OrderTimeline): string {
  const lines: string[] = [];
  const functions = new Set(hops.map((hop) => hop.function));
  lines.push(
    `order ${order.orderId}  ${order.status}${order.cancelReason ? ` (${order.cancelReason})` : ''}`,
    `correlation ${order.correlationId}`,
    traceIds.length === 1
      ? `trace ${traceIds[0]} (one trace across ${functions.size} function${functions.size === 1 ? '' : 's'})`
      : traceIds.length === 0
        ? 'trace: none recorded'
        : `traces: ${traceIds.join(', ')} (${traceIds.length} traces: a saga last moved before migration 0015, or rows written before 0013, keep no trace of the order)`,
    '',
  );
  if (hops.length === 0) {
    lines.push('no log lines of this order (is LOG_LEVEL above info, or the log of another run?)');
  } else {
    const rows = hops.map((hop) => [
      clock(hop.start),
      hop.function,
      hop.what,
      hop.deliveryAttempt && hop.deliveryAttempt > 1 ? `#${hop.deliveryAttempt}` : '',
      hop.queueMs === undefined ? '-' : `${hop.queueMs} ms`,
      hop.handlingMs === undefined ? '-' : `${hop.handlingMs} ms`,
      hop.detail ? `${hop.outcome}: ${hop.detail}` : hop.outcome,
    ]);
    lines.push(
      textTable(['start', 'function', 'message', 'try', 'queue', 'handling', 'outcome'], rows, {
        rightAligned: [4, 5],
      }),
    );
  }
  if (order.events.length > 0) {
    lines.push('', 'events written (outbox):');
    lines.push(
      ...textTable(
        ['written', 'event', 'producer', 'published'],
        order.events.map((event) => [
          clock(event.writtenAt),
          event.type,
          event.producer ?? '-',
          event.setAsideReason
            ? `set aside: ${event.setAsideReason}`
            : event.sentAt
              ? `+${event.sentAt.getTime() - event.writtenAt.getTime()} ms${event.attempts > 0 ? ` (relay, ${event.attempts} refused)` : ''}`
              : 'not yet',
        ]),
      )
        .split('\n')
        .map((line) => `  ${line}`),
    );
  }
  if (spans.length > 0) {
    lines.push('', `spans (${spans.length}):`);
    const children = Map.groupBy(spans, (span) => span.parentSpanId ?? '');
    const ids = new Set(spans.map((span) => span.spanId));
    const print = (span: SpanRecord, depth: number) => {
      lines.push(
        `  ${'  '.repeat(depth)}${span.name} [${span.service}] ${span.durationMs} ms${span.status === 'error' ? ' (error)' : ''}`,
      );
      for (const child of children.get(span.spanId) ?? []) print(child, depth + 1);
    };
    for (const root of spans.filter((span) => !span.parentSpanId || !ids.has(span.parentSpanId))) {
      print(root, 0);
    }
  }
  return lines.join('\n');
}

function clock(date: Date): string {
  return date.toISOString().slice(11, 23);
}
