import { catalog, schemaOf } from './catalog';
import { type DomainEvent, type Envelope, envelopeSchema } from './envelope';
import { describeIssues, InvalidEventError } from './invalid-event-error';
import { type UpcastContext, upcasterFor } from './upcast';

/** What Pub/Sub carries: the payload and string attributes (the client's `Message` fits). */
export interface PubSubMessage {
  /** Raw bytes, or base64 as in a push body. */
  data?: Uint8Array | string | null;
  attributes?: Record<string, string> | null;
}

export interface EncodedMessage {
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
}

/** Attributes repeat what filters, logs and the DLQ tools need without decoding the body. */
function eventAttributes(event: Envelope): Record<string, string> {
  return {
    event_type: event.type,
    event_version: String(event.version),
    event_id: event.id,
    correlation_id: event.correlationId,
  };
}

/** `json` is the event as JSON text, when the caller has it already (its outbox row's). */
export function encodeEvent(event: Envelope, json = JSON.stringify(event)): EncodedMessage {
  return {
    data: Buffer.from(json),
    attributes: eventAttributes(event),
    orderingKey: event.subject,
  };
}

/** The currency of a v1 OrderPlaced that names none, unless the consumer is told another. */
export const defaultLegacyCurrency = 'USD';

/**
 * Decodes a Pub/Sub message into an event at the latest version of its type. Pure: what it
 * needs from the consumer's configuration comes in `options`.
 * @throws InvalidEventError when the message can never be handled (dead-letter it).
 */
export function decodeMessage(
  message: PubSubMessage,
  { legacyCurrency = defaultLegacyCurrency }: Partial<UpcastContext> = {},
): DomainEvent {
  const attributes = message.attributes ?? {};
  const known = {
    id: attributes.event_id,
    type: attributes.event_type,
    correlationId: attributes.correlation_id,
  };
  const body = parseJson(message.data, known);
  const envelope = isLegacyMessage(body, attributes) ? fromLegacy(body, attributes) : body;
  return decodeEnvelope(envelope, { legacyCurrency, known, eventIdAttribute: attributes.event_id });
}

/**
 * Reads an envelope (a message's body, an outbox row's event) as every consumer does: a
 * valid envelope of the catalog, upcast to the latest version of its type, about the order
 * its subject names. Pure.
 * @throws InvalidEventError when it is not (the reason says why)
 */
export function decodeEnvelope(
  envelope: unknown,
  {
    legacyCurrency = defaultLegacyCurrency,
    known = {},
    eventIdAttribute,
  }: Partial<UpcastContext> & {
    /** What is known of the event before its envelope is read, for the error. */
    known?: InvalidEventError['event'];
    /** The message's `event_id` attribute, which must be the body's id. */
    eventIdAttribute?: string | undefined;
  } = {},
): DomainEvent {
  const parsed = envelopeSchema.safeParse(envelope);
  if (!parsed.success) {
    throw new InvalidEventError(`invalid envelope: ${describeIssues(parsed.error.issues)}`, known);
  }
  const event = withLowerCaseIds(parsed.data);
  const context = { id: event.id, type: event.type, correlationId: event.correlationId };
  if (eventIdAttribute !== undefined && eventIdAttribute.toLowerCase() !== event.id) {
    throw new InvalidEventError(
      `attribute event_id ${eventIdAttribute} differs from the body's id`,
      context,
    );
  }
  const { version, data } = upcastToLatest(event, context, { legacyCurrency });
  // Every event is about an order, which its subject names (and orders its delivery by).
  const orderId = data.orderId.toLowerCase();
  if (event.subject.toLowerCase() !== orderId) {
    throw new InvalidEventError(
      `subject ${event.subject} differs from data.orderId ${data.orderId}`,
      context,
    );
  }
  return { ...event, subject: orderId, version, data: { ...data, orderId } } as DomainEvent;
}

/**
 * Uuids are case-insensitive on the wire, but compared as strings everywhere (PostgreSQL reads
 * uuid columns back in lower case): decoding lower-cases them, so that a producer's upper case
 * never makes two spellings of one id. Payment ids and other ids are opaque: kept as sent.
 */
function withLowerCaseIds(event: Envelope): Envelope {
  return {
    ...event,
    id: event.id.toLowerCase(),
    correlationId: event.correlationId.toLowerCase(),
    causationId: event.causationId?.toLowerCase() ?? null,
  };
}

function upcastToLatest(
  event: Envelope,
  context: InvalidEventError['event'],
  upcastContext: UpcastContext,
): { version: number; data: { orderId: string } } {
  const schema = schemaOf(event.type, event.version);
  if (!schema) {
    const reason = Object.hasOwn(catalog, event.type)
      ? `unknown version ${event.version} of ${event.type}`
      : `unknown event type ${event.type}`;
    throw new InvalidEventError(reason, context);
  }
  let version = event.version;
  let data = validate(schema, event.data, `${event.type} v${version}`, context);
  const latest = catalog[event.type as keyof typeof catalog].latest;
  while (version < latest) {
    const upcaster = upcasterFor(event.type, version);
    if (!upcaster)
      throw new InvalidEventError(`no upcaster from ${event.type} v${version}`, context);
    try {
      data = upcaster(data as never, upcastContext);
    } catch (error) {
      const reason = `cannot upcast ${event.type} v${version}: ${(error as Error).message}`;
      throw new InvalidEventError(reason, context, { cause: error });
    }
    version += 1;
    data = validate(schemaOf(event.type, version)!, data, `${event.type} v${version}`, context);
  }
  // Every type's latest schema has a uuid orderId.
  return { version, data: data as { orderId: string } };
}

function validate(
  schema: NonNullable<ReturnType<typeof schemaOf>>,
  data: unknown,
  what: string,
  context: InvalidEventError['event'],
): unknown {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new InvalidEventError(
    `${what} data: ${describeIssues(result.error.issues, 'data')}`,
    context,
  );
}

function parseJson(data: PubSubMessage['data'], known: InvalidEventError['event']): unknown {
  if (data === undefined || data === null || data.length === 0) {
    throw new InvalidEventError('message has no data', known);
  }
  const text =
    typeof data === 'string'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(data).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidEventError('message data is not JSON', known, { cause: error });
  }
}

type LegacyBody = Record<string, unknown> & { event_id: unknown };

/**
 * The Python reference published a flat body (`asdict(event)`: `event_id`, `occurred_at`,
 * `correlation_id` beside the event's own fields) with only `event_type` and
 * `correlation_id` attributes and no version. Such a message is version 1 of its type.
 */
function isLegacyMessage(body: unknown, attributes: Record<string, string>): body is LegacyBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    'event_id' in body &&
    attributes.event_type !== undefined &&
    attributes.event_version === undefined
  );
}

function fromLegacy(body: LegacyBody, attributes: Record<string, string>): unknown {
  const { event_id, occurred_at, correlation_id, ...data } = body;
  return {
    id: event_id,
    type: attributes.event_type,
    version: 1,
    source: 'python-reference',
    occurredAt: legacyTime(occurred_at),
    // Without a correlation id, the order is the correlation.
    correlationId: correlation_id ?? data.order_id,
    causationId: null,
    subject: data.order_id,
    data,
  };
}

/** Python's str(datetime.utcnow()) is "2024-05-01 12:00:00.123456": UTC without a zone. */
function legacyTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const iso = value.replace(' ', 'T');
  const date = new Date(/(Z|[+-]\d\d:\d\d)$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}
