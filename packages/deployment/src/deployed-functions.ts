import { type TopicName, topicConsumedBy } from '@orders/events';

export type Trigger = { kind: 'http' } | { kind: 'topic'; topic: TopicName };

/**
 * Every deployable function: its workspace under `functions/`, the entry point its
 * `src/index.ts` registers with functions-framework (a test holds each to it), and its
 * trigger: HTTP, or the topic of the messaging topology it consumes.
 */
export const functions = {
  'place-order': { entryPoint: 'placeOrder', trigger: { kind: 'http' } },
  'process-order': {
    entryPoint: 'processOrder',
    trigger: { kind: 'topic', topic: topicConsumedBy('process-order') },
  },
  'payment-handler': {
    entryPoint: 'handlePayment',
    trigger: { kind: 'topic', topic: topicConsumedBy('payment-handler') },
  },
  'analytics-loader': {
    entryPoint: 'loadAnalytics',
    trigger: { kind: 'topic', topic: topicConsumedBy('analytics-loader') },
  },
  housekeeping: {
    entryPoint: 'runHousekeeping',
    trigger: { kind: 'topic', topic: topicConsumedBy('housekeeping') },
  },
} as const satisfies Record<string, { entryPoint: string; trigger: Trigger }>;

export type FunctionName = keyof typeof functions;
