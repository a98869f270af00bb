import { decodeMessage, InvalidEventError, routesOf } from '@orders/events';

/**
 * One message on a `<topic>-dlq` subscription, as the DLQ tools show it. Two producers put
 * messages there:
 * - a consumer that refused a message for good (`rejected`): it republished the original
 *   bytes and attributes plus `dlq_reason`, `dlq_consumer`, `dlq_source_topic`,
 *   `dlq_original_message_id` and `dlq_at` (see @orders/messaging `createPubSubDeadLetters`);
 * - Pub/Sub itself after the subscription's max delivery attempts (`undeliverable`): the
 *   original message plus the `CloudPubSubDeadLetterSource*` attributes.
 */
export interface DeadLetter {
  /** The message id on the dead-letter topic: what `dlq show` and `dlq replay` take. */
  id: string;
  /** The topic the message was published to, and where a replay sends it. */
  topic: string;
  kind: 'rejected' | 'undeliverable';
  eventType: string | null;
  eventId: string | null;
  correlationId: string | null;
  reason: string;
  /** The consumer that refused it, or the subscription Pub/Sub gave up on. */
  source: string | null;
  /** Deliveries Pub/Sub attempted; a consumer's own refusal does not record it. */
  deliveryCount: number | null;
  /** When it was dead-lettered (UTC, ISO 8601). */
  at: string;
  /** The original message id, when the consumer recorded it. */
  originalMessageId: string | null;
  attributes: Record<string, string>;
  data: Buffer;
}

/** What a pull returns for one message, in the shape of the v1 API. */
export interface PulledMessage {
  messageId?: string | null;
  data?: Uint8Array | string | null;
  attributes?: Record<string, string> | null;
  publishTime?: { seconds?: number | string | Long | null; nanos?: number | null } | null;
}

/** protobufjs' 64-bit integer, which the v1 client may hand back for `seconds`. */
interface Long {
  toNumber(): number;
}

const pubsubPrefix = 'CloudPubSubDeadLetter';
const consumerPrefix = 'dlq_';

/** `topic` is the original topic: the one whose `<topic>-dlq` subscription held the message. */
export function describeDeadLetter(topic: string, message: PulledMessage): DeadLetter {
  const attributes = { ...(message.attributes ?? {}) };
  const published = publishTimeIso(message.publishTime);
  const common = {
    id: message.messageId ?? '',
    topic,
    eventType: attributes.event_type ?? null,
    eventId: attributes.event_id ?? null,
    correlationId: attributes.correlation_id ?? null,
    attributes,
    data: toBuffer(message.data),
  };
  if (attributes.dlq_reason !== undefined) {
    return {
      ...common,
      kind: 'rejected',
      reason: attributes.dlq_reason,
      source: attributes.dlq_consumer ?? null,
      deliveryCount: null,
      at: attributes.dlq_at ?? published,
      originalMessageId: attributes.dlq_original_message_id || null,
    };
  }
  const count = Number.parseInt(attributes.CloudPubSubDeadLetterSourceDeliveryCount ?? '', 10);
  return {
    ...common,
    kind: 'undeliverable',
    reason:
      attributes.CloudPubSubDeadLetterSourceSubscription !== undefined
        ? 'max delivery attempts exceeded'
        : 'unknown (no dead-letter attributes)',
    source: attributes.CloudPubSubDeadLetterSourceSubscription ?? null,
    deliveryCount: Number.isNaN(count) ? null : count,
    at: published,
    originalMessageId: null,
  };
}

/** The attributes the message had before it was dead-lettered: what a replay publishes. */
export function originalAttributes(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attributes).filter(
      ([name]) => !name.startsWith(consumerPrefix) && !name.startsWith(pubsubPrefix),
    ),
  );
}

/** What a replay publishes to the letter's topic. */
export interface ReplayMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

/**
 * What replaying `letter` publishes: its original data and attributes (without the
 * dead-letter ones), or the `fixed` body instead, with the event attributes that body names.
 */
export function replayMessage(letter: DeadLetter, fixed?: Buffer): ReplayMessage {
  const attributes = originalAttributes(letter.attributes);
  return fixed
    ? { data: fixed, attributes: { ...attributes, ...eventAttributesOf(fixed) } }
    : { data: letter.data, attributes };
}

/**
 * Why `message` may not be published to `topic` again, or undefined when it may: it must be
 * a valid envelope of the catalog, as the topic's consumer decodes it, of an event type
 * routed to `topic`.
 */
export function replayRefusal(topic: string, message: ReplayMessage): string | undefined {
  let type: string;
  try {
    type = decodeMessage(message).type;
  } catch (error) {
    if (error instanceof InvalidEventError) return `not a valid event: ${error.reason}`;
    throw error;
  }
  const routed: readonly string[] = routesOf(type) ?? [];
  if (!routed.includes(topic)) {
    return `${type} is not routed to ${topic} (its topics: ${routed.join(', ')})`;
  }
  return undefined;
}

/** The event attributes a fixed body names (an envelope's type, version, id, correlation). */
function eventAttributesOf(data: Buffer): Record<string, string> {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(data.toString('utf8'));
  } catch {
    return {};
  }
  const attributes: Record<string, string> = {};
  const names = {
    type: 'event_type',
    version: 'event_version',
    id: 'event_id',
    correlationId: 'correlation_id',
  };
  for (const [field, attribute] of Object.entries(names)) {
    const value = body?.[field];
    if (typeof value === 'string' || typeof value === 'number')
      attributes[attribute] = String(value);
  }
  return attributes;
}

function toBuffer(data: PulledMessage['data']): Buffer {
  if (data === undefined || data === null) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
}

function publishTimeIso(time: PulledMessage['publishTime']): string {
  if (!time) return '';
  const raw = time.seconds ?? 0;
  const seconds = typeof raw === 'object' && raw !== null ? raw.toNumber() : Number(raw);
  return new Date(seconds * 1000 + Math.floor((time.nanos ?? 0) / 1e6)).toISOString();
}
