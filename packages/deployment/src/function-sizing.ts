import type { FunctionName } from './deployed-functions';

export interface Sizing {
  memory: string;
  timeoutSeconds: number;
  minInstances: number;
  maxInstances: number;
}

/**
 * Each function's size. Consumers time out within their subscription's ack deadline (see
 * the topology), so Pub/Sub never redelivers a message that is still being handled. The
 * intake keeps one warm instance: it answers people. `DEPLOY_*` settings override these.
 */
export const functionSizing: Record<FunctionName, Sizing> = {
  'place-order': { memory: '512Mi', timeoutSeconds: 30, minInstances: 1, maxInstances: 20 },
  'process-order': { memory: '512Mi', timeoutSeconds: 60, minInstances: 0, maxInstances: 10 },
  'payment-handler': { memory: '512Mi', timeoutSeconds: 60, minInstances: 0, maxInstances: 10 },
  'analytics-loader': { memory: '512Mi', timeoutSeconds: 60, minInstances: 0, maxInstances: 5 },
  housekeeping: { memory: '256Mi', timeoutSeconds: 60, minInstances: 0, maxInstances: 1 },
};
