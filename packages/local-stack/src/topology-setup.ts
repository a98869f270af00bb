import { PubSub, type Subscription } from '@google-cloud/pubsub';
import { type Delivery, deadLetterTopic, topics as declaredTopics } from '@orders/events';
import { withoutTrailingSlashes } from '@orders/platform';

export interface TopologyOptions {
  /** `host:port` of the Pub/Sub emulator. */
  emulatorHost: string;
  projectId: string;
  /** Topic -> URL its consumer's subscription pushes to; without one it is a pull subscription. */
  pushEndpoints: Partial<Record<string, string>>;
  /** Defaults to the declaration in @orders/events. */
  topics?: Record<string, { consumer: string; delivery: Delivery }>;
  /**
   * Delivery attempts of every consumer subscription before Pub/Sub dead-letters a message;
   * by default as many as the declared backoff lasts (see localDeliveryAttempts).
   */
  maxDeliveryAttempts?: number;
}

export interface CreatedTopology {
  topics: string[];
  subscriptions: string[];
}

const ALREADY_EXISTS = 6;

/**
 * Creates the declared topology on the emulator: every topic and its `<topic>-dlq`, a pull
 * subscription `<topic>-dlq` for inspecting dead letters, and on each topic a subscription
 * named after its consumer with the declared dead-letter policy: push to the
 * consumer's endpoint when it runs, pull otherwise. Safe to run again: existing topics stay,
 * existing subscriptions are pointed at the new endpoint (function ports change between runs).
 *
 * Subscriptions are unordered on purpose: the emulator's push loop for an ordered
 * subscription with a dead-letter policy stops delivering.
 */
/** A client of the emulator at `emulatorHost`, for the topology and for tests. */
export function emulatorClient({
  projectId,
  emulatorHost,
}: {
  projectId: string;
  emulatorHost: string;
}) {
  return new PubSub({
    projectId,
    apiEndpoint: emulatorHost,
    emulatorMode: true,
    // Named, else google-auth asks the GCE metadata server for it (a warning and a wasted
    // lookup on every machine that is not on Google Cloud).
    universeDomain: 'googleapis.com',
  });
}

export async function createTopology(options: TopologyOptions): Promise<CreatedTopology> {
  const { projectId } = options;
  const pubsub = emulatorClient({ projectId, emulatorHost: options.emulatorHost });
  const created: CreatedTopology = { topics: [], subscriptions: [] };
  try {
    for (const [topic, { consumer, delivery }] of Object.entries(
      options.topics ?? declaredTopics,
    )) {
      const dlq = deadLetterTopic(topic);
      await ignoreExisting(pubsub.createTopic(topic));
      await ignoreExisting(pubsub.createTopic(dlq));
      await ignoreExisting(pubsub.createSubscription(dlq, dlq));
      created.topics.push(topic, dlq);
      created.subscriptions.push(dlq);

      // A consumer that is not running gets a pull subscription: its messages wait there
      // (and can be inspected) until it runs and the subscription is switched to push.
      const pushEndpoint = options.pushEndpoints[topic];
      const settings = {
        pushConfig: pushEndpoint ? { pushEndpoint } : {},
        ackDeadlineSeconds: delivery.ackDeadlineSeconds,
        // No retry policy here (Pub/Sub's default: redeliver at once; the emulator does so
        // about once a second). Under a retry policy the emulator (0.8.20) stops pushing
        // messages whose pushes failed together (a consumer down for a few seconds), for
        // good: neither redelivered nor dead-lettered. Production subscriptions get the
        // declared backoff (see deploy/); here the attempts make up for it.
        deadLetterPolicy: {
          deadLetterTopic: `projects/${projectId}/topics/${dlq}`,
          maxDeliveryAttempts: options.maxDeliveryAttempts ?? localDeliveryAttempts(delivery),
        },
        enableMessageOrdering: false,
      };
      const subscription = pubsub.subscription(consumer);
      if (!(await ignoreExisting(pubsub.createSubscription(topic, consumer, settings)))) {
        await updatePushSubscription(subscription, settings);
      }
      created.subscriptions.push(consumer);
    }
  } finally {
    await pubsub.close();
  }
  return created;
}

/**
 * Delivery attempts without backoff that last about as long as the declared ones do with
 * it (the emulator redelivers about once a second), so that an outage a production
 * subscription rides out is ridden out here too. Pub/Sub accepts 5 to 100.
 */
export function localDeliveryAttempts(delivery: Delivery): number {
  let windowSeconds = 0;
  for (let retry = 0; retry < delivery.maxDeliveryAttempts - 1; retry++) {
    windowSeconds += Math.min(
      delivery.maximumBackoffSeconds,
      delivery.minimumBackoffSeconds * 2 ** retry,
    );
  }
  return Math.min(100, Math.max(delivery.maxDeliveryAttempts, Math.ceil(windowSeconds)));
}

/** The push URL for a function: functions-framework only turns a raw Pub/Sub push body into
 * a CloudEvent when the request path names the topic as `/projects/P/topics/T`. */
export function pushEndpoint(functionUrl: string, projectId: string, topic: string): string {
  return `${withoutTrailingSlashes(functionUrl)}/projects/${projectId}/topics/${topic}`;
}

/** Resolves true when created, false when it already existed. */
async function ignoreExisting(creation: Promise<unknown>): Promise<boolean> {
  try {
    await creation;
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === ALREADY_EXISTS) return false;
    throw error;
  }
}

async function updatePushSubscription(
  subscription: Subscription,
  settings: { pushConfig: { pushEndpoint?: string } } & Record<string, unknown>,
): Promise<void> {
  await subscription.modifyPushConfig(settings.pushConfig);
  const { pushConfig: _, enableMessageOrdering: __, ...policies } = settings;
  await subscription.setMetadata(policies);
}
