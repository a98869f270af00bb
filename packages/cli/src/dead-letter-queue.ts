import { setTimeout as sleep } from 'node:timers/promises';
import { type PubSub, v1 } from '@google-cloud/pubsub';
import { deadLetterTopic } from '@orders/events';
import { createPubSubClient } from '@orders/messaging';
import { type DeadLetter, describeDeadLetter, replayMessage, replayRefusal } from './dead-letter';

/** The dead letters of a set of topics: read without consuming, and replayed. */
export interface DeadLetterQueue {
  /** Every message now on the DLQs, oldest first. Nothing is consumed. */
  list(): Promise<DeadLetter[]>;
  /**
   * Republishes each chosen dead letter (original data and attributes, without the dead-letter
   * ones) to its original topic, then removes it from its DLQ. The others stay. `fixed` gives a
   * corrected body for a letter: it is published instead, with the event attributes it names.
   * What would be published is checked first (`replayRefusal`): a message that is not a valid
   * event routed to its topic is refused, and stays on its DLQ.
   */
  replay(
    choose: (letter: DeadLetter) => boolean,
    fixed?: (letter: DeadLetter) => Buffer | undefined,
  ): Promise<ReplayOutcome[]>;
  close(): Promise<void>;
}

export type ReplayOutcome =
  | { letter: DeadLetter; replayed: true; newMessageId: string }
  | { letter: DeadLetter; replayed: false; error: Error };

export interface PubSubDeadLetterQueueOptions {
  projectId: string;
  /** `host:port` of the emulator; absent in production. */
  emulatorHost?: string | undefined;
  /** The original topics whose `<topic>-dlq` subscriptions to read. */
  topics: readonly string[];
}

/** A `<topic>-dlq` subscription does not exist: wrong project, or the topology is not deployed. */
export class DeadLetterSubscriptionMissingError extends Error {
  override readonly name = 'DeadLetterSubscriptionMissingError';
  constructor(
    readonly projectId: string,
    readonly subscriptions: string[],
  ) {
    super(
      `no subscription ${subscriptions.join(', ')} in project ${projectId}: ` +
        'is that the project of the stack, and is its topology created?',
    );
  }
}

/** Pub/Sub could not be reached or refused a call (other than a missing subscription). */
export class DeadLetterQueueUnavailableError extends Error {
  override readonly name = 'DeadLetterQueueUnavailableError';
}

interface Leased {
  letter: DeadLetter;
  subscription: string;
  ackId: string;
}

const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
/** UNKNOWN, ABORTED, INTERNAL, UNAVAILABLE: what gax itself retries for Pull. */
const retryableCodes = new Set<number | undefined>([2, 10, 13, 14]);
const pullAttempts = 4;
/** The most one Pull may return. */
const maxPullMessages = 1000;
/** Held while publishing a replay, so that the ack after it still holds. */
const replayLeaseSeconds = 120;
const ackIdsPerRequest = 500;

/**
 * Reads the DLQs with the synchronous Pull API so that a listing is complete and repeatable:
 * it pulls until a pull comes back empty (holding what it got, so nothing comes twice), then
 * gives every message back at once (ack deadline 0).
 *
 * WARNING: giving a message back counts as a delivery attempt on the DLQ subscription. The
 * DLQ subscriptions have no dead-letter policy of their own, so nothing moves, but a listing
 * briefly hides the messages from any other reader of the same subscription.
 */
export function createPubSubDeadLetterQueue(
  options: PubSubDeadLetterQueueOptions,
): DeadLetterQueue {
  const { projectId, emulatorHost, topics } = options;
  const pubsub: PubSub = createPubSubClient({ projectId, emulatorHost });
  let subscriber: Promise<v1.SubscriberClient> | undefined;
  const client = () => {
    // The same endpoint, credentials and emulator settings as the PubSub client.
    subscriber ??= pubsub
      .getClientConfig()
      .then((config) => new v1.SubscriberClient({ ...config }));
    return subscriber;
  };
  const subscriptionPath = (topic: string) =>
    `projects/${projectId}/subscriptions/${deadLetterTopic(topic)}`;

  /**
   * One Pull. The emulator answers an empty one at once when asked to; production holds it
   * until messages come or the deadline passes, which then means there is nothing more. gax's
   * own retries are off so that an unreachable service (retried here, then an error) is
   * never mistaken for that deadline.
   */
  async function pullOnce(sub: v1.SubscriberClient, subscription: string) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const [response] = await sub.pull(
          { subscription, maxMessages: maxPullMessages, returnImmediately: Boolean(emulatorHost) },
          { timeout: emulatorHost ? 10_000 : 5_000, retry: null },
        );
        return response.receivedMessages ?? [];
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (code === DEADLINE_EXCEEDED && !emulatorHost) return [];
        if (!retryableCodes.has(code) || attempt >= pullAttempts) throw error;
        await sleep(250 * 2 ** (attempt - 1));
      }
    }
  }

  async function leaseTopic(sub: v1.SubscriberClient, topic: string): Promise<Leased[]> {
    const subscription = subscriptionPath(topic);
    const byId = new Map<string, Leased>();
    for (;;) {
      const received = await pullOnce(sub, subscription);
      if (received.length === 0) break;
      for (const { ackId, message } of received) {
        if (!ackId || !message) continue;
        const letter = describeDeadLetter(topic, message);
        // A lease that ran out during a long listing brings a message back: keep it once,
        // with its newest ack id.
        byId.set(letter.id, { letter, subscription, ackId });
      }
    }
    return [...byId.values()];
  }

  /** Leases every message on every DLQ; on any failure, gives back what was leased. */
  async function leaseAll(): Promise<Leased[]> {
    const sub = await client();
    const results = await Promise.allSettled(topics.map((topic) => leaseTopic(sub, topic)));
    const leased = results.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
    const failures = results.flatMap((result, index) =>
      result.status === 'rejected' ? [{ topic: topics[index]!, error: result.reason }] : [],
    );
    if (failures.length === 0) {
      return leased.sort(
        (a, b) => a.letter.at.localeCompare(b.letter.at) || a.letter.id.localeCompare(b.letter.id),
      );
    }
    await giveBack(sub, leased).catch(() => {});
    const missing = failures.filter(({ error }) => (error as { code?: number }).code === NOT_FOUND);
    if (missing.length === failures.length) {
      throw new DeadLetterSubscriptionMissingError(
        projectId,
        missing.map(({ topic }) => deadLetterTopic(topic)),
      );
    }
    const { error } = failures.find((failure) => !missing.includes(failure))!;
    throw new DeadLetterQueueUnavailableError(
      `cannot read the dead-letter subscriptions of project ${projectId}` +
        `${emulatorHost ? ` on the emulator at ${emulatorHost}` : ''}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  async function setDeadline(sub: v1.SubscriberClient, leased: Leased[], seconds: number) {
    for (const [subscription, ackIds] of groupAckIds(leased)) {
      await sub.modifyAckDeadline({ subscription, ackIds, ackDeadlineSeconds: seconds });
    }
  }
  const giveBack = (sub: v1.SubscriberClient, leased: Leased[]) => setDeadline(sub, leased, 0);

  return {
    async list() {
      const leased = await leaseAll();
      await giveBack(await client(), leased);
      return leased.map(({ letter }) => letter);
    },

    async replay(choose, fixed = () => undefined) {
      const sub = await client();
      const leased = await leaseAll();
      const chosen = leased.filter(({ letter }) => choose(letter));
      await giveBack(
        sub,
        leased.filter((entry) => !chosen.includes(entry)),
      );
      await setDeadline(sub, chosen, replayLeaseSeconds);

      const outcomes: ReplayOutcome[] = [];
      const failed: Leased[] = [];
      for (const entry of chosen) {
        const { letter } = entry;
        // 1. Publish to the original topic first: a failure before the ack leaves the dead
        //    letter in place (replayed twice, it is a duplicate, which consumers ignore).
        const message = replayMessage(letter, fixed(letter));
        const refusal = replayRefusal(letter.topic, message);
        if (refusal !== undefined) {
          failed.push(entry);
          outcomes.push({ letter, replayed: false, error: new Error(`refused: ${refusal}`) });
          continue;
        }
        let newMessageId: string;
        try {
          newMessageId = await pubsub.topic(letter.topic).publishMessage(message);
        } catch (error) {
          failed.push(entry);
          outcomes.push({ letter, replayed: false, error: asError(error) });
          continue;
        }
        // 2. Then remove it from the DLQ.
        try {
          await sub.acknowledge({ subscription: entry.subscription, ackIds: [entry.ackId] });
          outcomes.push({ letter, replayed: true, newMessageId });
        } catch (error) {
          failed.push(entry);
          const message = `republished as message ${newMessageId}, but it is still on the DLQ: ${asError(error).message}`;
          outcomes.push({ letter, replayed: false, error: new Error(message, { cause: error }) });
        }
      }
      await giveBack(sub, failed).catch(() => {});
      return outcomes;
    },

    async close() {
      const closing: Promise<unknown>[] = [pubsub.close()];
      if (subscriber) closing.push(subscriber.then((sub) => sub.close()));
      await Promise.allSettled(closing);
    },
  };
}

/** Ack ids per subscription, in requests small enough for Pub/Sub's 512 kB limit. */
function groupAckIds(leased: Leased[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const { subscription, ackId } of leased) {
    const ackIds = groups.get(subscription) ?? [];
    ackIds.push(ackId);
    groups.set(subscription, ackIds);
  }
  return [...groups].flatMap(([subscription, ackIds]) => {
    const chunks: [string, string[]][] = [];
    for (let i = 0; i < ackIds.length; i += ackIdsPerRequest) {
      chunks.push([subscription, ackIds.slice(i, i + ackIdsPerRequest)]);
    }
    return chunks;
  });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
