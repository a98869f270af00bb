import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { catalog, type EventData, type EventType, type LatestVersion } from './catalog';

/**
 * A uuid as the envelope's ids and the catalog's order ids accept it (zod's `z.uuid()`: RFC
 * 9562 versions 1 to 8 with the RFC variant, or the nil and max uuids), in either case. Ids
 * that come from outside (a header, a path, an argument) are checked with it.
 */
export const uuidPattern: RegExp = z.regexes.uuid();

/** The envelope every message carries; `data` is checked against the (type, version) schema. */
export const envelopeSchema = z.strictObject({
  /** The idempotency key of the event. */
  id: z.uuid(),
  type: z.string().min(1).max(100),
  version: z.int().positive(),
  /** The function that produced the event. */
  source: z.string().min(1).max(100),
  /** UTC, ISO 8601 with `Z`. */
  occurredAt: z.iso.datetime(),
  /** One per order, from intake to analytics. */
  correlationId: z.uuid(),
  /** The id of the event that caused this one; null for events caused by a request. */
  causationId: z.uuid().nullable(),
  /** The order id. */
  subject: z.string().min(1).max(200),
  data: z.unknown(),
});

export type Envelope = z.output<typeof envelopeSchema>;

/** An event at the latest version of its type. */
export type DomainEvent<T extends EventType = EventType> = {
  [K in T]: Omit<Envelope, 'type' | 'version' | 'data'> & {
    type: K;
    version: LatestVersion<K>;
    data: EventData<K>;
  };
}[T];

export interface EventOrigin {
  source: string;
  correlationId: string;
  causationId?: string | null;
  /** Defaults to a new uuid; pass one to make the event id deterministic. */
  id?: string;
  occurredAt?: Date;
}

/** Creates a valid event at the latest version; the subject is the order id. */
export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  origin: EventOrigin,
): DomainEvent<T> {
  const { latest, schemas } = catalog[type];
  const schema = (schemas as Record<number, z.ZodType>)[latest]!;
  const parsed = schema.parse(data) as EventData<T> & { orderId: string };
  return {
    id: origin.id ?? randomUUID(),
    type,
    version: latest,
    source: origin.source,
    occurredAt: (origin.occurredAt ?? new Date()).toISOString(),
    correlationId: origin.correlationId,
    causationId: origin.causationId ?? null,
    subject: parsed.orderId,
    data: parsed,
  } as DomainEvent<T>;
}

/** The origin of an event caused by another: same correlation id, causation = its id. */
export function causedBy(
  event: Pick<Envelope, 'id' | 'correlationId'>,
  source: string,
): EventOrigin {
  return { source, correlationId: event.correlationId, causationId: event.id };
}
