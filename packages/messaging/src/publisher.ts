import {
  type Authorize,
  applicationDefaultCredentials,
  groupedCalls,
  httpCalls,
  isTransientStatus,
} from '@orders/platform';
import { attributeLimitViolation } from './attribute-limits';

// Pub/Sub's limits per publish call are 1,000 messages and 10 MB; stay below the latter with
// room for the JSON around each message.
const maxMessagesPerCall = 1_000;
const maxBytesPerCall = 7_000_000;

/** Where messages go: a Google Cloud project, or the emulator when `emulatorHost` is set. */
export interface PublishTarget {
  projectId: string;
  /** `host:port` of the Pub/Sub emulator (PUBSUB_EMULATOR_HOST). */
  emulatorHost?: string | undefined;
}

export interface OutgoingMessage {
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey?: string | undefined;
}

/**
 * Publishes messages to topics by name; resolves once Pub/Sub has stored the message. A message
 * whose attributes break Pub/Sub's limits is refused before sending (PublishError, status 400).
 */
export interface Publisher {
  publish(topic: string, message: OutgoingMessage): Promise<void>;
}

/** Pub/Sub refused a publish call, or did not answer it. */
export class PublishError extends Error {
  constructor(
    readonly topic: string,
    /** The HTTP status, or undefined when there was no answer. */
    readonly status: number | undefined,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`publish to ${topic} failed: ${detail}`, options);
    this.name = 'PublishError';
  }

  /** Worth another call: no answer, or an answer that says "later". */
  get transient(): boolean {
    return this.status === undefined || isTransientStatus(this.status);
  }
}

export interface PublisherOptions {
  /** Headers that authorize a call; by default Application Default Credentials (not on the emulator). */
  authorize?: Authorize;
  /** Calls per publish before giving up on a transient failure (the outbox relay retries later). */
  attempts?: number;
  /** Timeout of one call. */
  callTimeoutMs?: number;
}

interface Queued {
  message: OutgoingMessage;
  /** About its size in the call's JSON. */
  size: number;
}

/**
 * Publishes through Pub/Sub's REST API (`topics.publish`), not the gRPC client library: the
 * library takes about a second and 50 MiB to load, which every cold start of a function that
 * publishes paid, and this is one request per call on a kept-alive connection (`httpCalls`).
 *
 * Messages are grouped per topic (`groupedCalls`): a message is sent at once when its topic
 * has no call in flight, else with every message queued meanwhile in the next call (as a
 * database groups commits). A lone request waits for no timer, and under load one call
 * carries the messages of many requests. Unlike the library's ordered publishing, which
 * sends each ordering key in calls of its own, one call carries many keys; nothing depends
 * on their order.
 */
export function createPublisher(
  target: PublishTarget,
  { authorize, attempts = 3, callTimeoutMs = 10_000 }: PublisherOptions = {},
): Publisher {
  const base = target.emulatorHost
    ? `http://${target.emulatorHost}/v1/projects/${target.projectId}/topics/`
    : `https://pubsub.googleapis.com/v1/projects/${target.projectId}/topics/`;
  const http = httpCalls({ timeoutMs: callTimeoutMs });
  const headersFor =
    authorize ??
    (target.emulatorHost
      ? async () => ({})
      : applicationDefaultCredentials('https://www.googleapis.com/auth/pubsub'));
  const senders = new Map<string, (messages: readonly Queued[]) => Promise<void>>();

  async function call(topic: string, batch: readonly Queued[]): Promise<void> {
    const body = JSON.stringify({
      messages: batch.map(({ message }) => ({
        data: message.data.toString('base64'),
        attributes: message.attributes,
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
      })),
    });
    const url = `${base}${encodeURIComponent(topic)}:publish`;
    for (let attempt = 1; ; attempt++) {
      const failure = await send(topic, url, body);
      if (!failure) return;
      if (!failure.transient || attempt >= attempts) throw failure;
      await new Promise((resolve) => setTimeout(resolve, 100 * 4 ** (attempt - 1)));
    }
  }

  /** One call; what went wrong, if anything. */
  async function send(topic: string, url: string, body: string): Promise<PublishError | undefined> {
    try {
      const headers = { 'content-type': 'application/json', ...(await headersFor()) };
      const { status, text } = await http.post(url, headers, body);
      if (status >= 200 && status < 300) return undefined;
      return new PublishError(topic, status, `HTTP ${status} ${text.slice(0, 500)}`);
    } catch (error) {
      return new PublishError(topic, undefined, String(error), { cause: error });
    }
  }

  /** The group-committing sender of `topic`, made on its first message. */
  function senderOf(topic: string) {
    let send = senders.get(topic);
    if (!send) {
      send = groupedCalls((batch: Queued[]) => call(topic, batch), {
        maxItems: maxMessagesPerCall,
        maxWeight: maxBytesPerCall,
        weightOf: (queued) => queued.size,
      });
      senders.set(topic, send);
    }
    return send;
  }

  return {
    publish(topic, message) {
      const violation = attributeLimitViolation(message.attributes);
      if (violation) {
        // Alone, before any call: in a call with others, Pub/Sub would refuse them all.
        return Promise.reject(
          new PublishError(topic, 400, `refused before sending, as Pub/Sub would: ${violation}`),
        );
      }
      const size = Math.ceil((message.data.length * 4) / 3) + 200;
      return senderOf(topic)([{ message, size }]);
    },
  };
}
