import type { Envelope } from './envelope';

/**
 * Publishes events to the topics their routes name. Resolves when every copy is accepted;
 * rejects if any is not (callers keep the events in the outbox until then).
 */
export interface EventBus {
  publish(events: readonly Envelope[]): Promise<void>;
}
