import type { EventType } from './catalog';

/**
 * The one declaration of the messaging topology: topics, the function each feeds, delivery
 * settings, and which event types route to which topics. Local dev, tests, deploy scripts
 * and Terraform inputs all read it; producers never name a topic themselves.
 */

/** How Pub/Sub retries a push that failed, then dead-letters it. */
export interface Delivery {
  ackDeadlineSeconds: number;
  minimumBackoffSeconds: number;
  maximumBackoffSeconds: number;
  /** Pub/Sub accepts 5 to 100. */
  maxDeliveryAttempts: number;
}

const defaultDelivery: Delivery = {
  ackDeadlineSeconds: 60,
  minimumBackoffSeconds: 1,
  maximumBackoffSeconds: 60,
  // With the backoff above, ten attempts span about four minutes: a database failover or a
  // redeploy is retried through, not dead-lettered (five spanned about thirty seconds).
  maxDeliveryAttempts: 10,
};

export const topics = {
  'order-saga': { consumer: 'process-order', delivery: defaultDelivery },
  payments: { consumer: 'payment-handler', delivery: defaultDelivery },
  analytics: { consumer: 'analytics-loader', delivery: defaultDelivery },
  /** Ticks from Cloud Scheduler (locally, from `pnpm dev`): no domain events. */
  housekeeping: { consumer: 'housekeeping', delivery: defaultDelivery },
} as const satisfies Record<string, { consumer: string; delivery: Delivery }>;

export type TopicName = keyof typeof topics;

export const routes: Record<EventType, readonly TopicName[]> = {
  OrderPlaced: ['order-saga', 'analytics'],
  PaymentRequested: ['payments', 'analytics'],
  PaymentSucceeded: ['order-saga', 'analytics'],
  PaymentFailed: ['order-saga', 'analytics'],
  RefundRequested: ['payments', 'analytics'],
  PaymentRefunded: ['order-saga', 'analytics'],
  OrderConfirmed: ['analytics'],
  OrderCancelled: ['analytics'],
};

/** The topics events of `type` route to; undefined for a type the catalog does not know. */
export function routesOf(type: string): readonly TopicName[] | undefined {
  return Object.hasOwn(routes, type) ? routes[type as EventType] : undefined;
}

export type Trigger = { kind: 'http' } | { kind: 'topic'; topic: TopicName };

/** Every deployable function: its workspace under `functions/`, entry point and trigger. */
export const functions = {
  'place-order': { entryPoint: 'placeOrder', trigger: { kind: 'http' } },
  'process-order': { entryPoint: 'processOrder', trigger: { kind: 'topic', topic: 'order-saga' } },
  'payment-handler': { entryPoint: 'handlePayment', trigger: { kind: 'topic', topic: 'payments' } },
  'analytics-loader': {
    entryPoint: 'loadAnalytics',
    trigger: { kind: 'topic', topic: 'analytics' },
  },
  housekeeping: {
    entryPoint: 'runHousekeeping',
    trigger: { kind: 'topic', topic: 'housekeeping' },
  },
} as const satisfies Record<string, { entryPoint: string; trigger: Trigger }>;

export type FunctionName = keyof typeof functions;

/** The order saga's topic (process-order's trigger): where a re-driven OrderPlaced goes. */
export const sagaTopic = functions['process-order'].trigger.topic;

/** Dead letters of `topic` go to `<topic>-dlq`, read by a pull subscription of that name. */
export function deadLetterTopic(topic: string): string {
  return `${topic}-dlq`;
}
