import type { Envelope } from './envelope';
import { routesOf, type TopicName } from './topology';

/** One copy of an event: the event, to one topic of its routes. */
export interface EventCopy {
  event: Envelope;
  topic: TopicName;
}

/** What became of one copy: its topic took it, or refused it (or did not answer) and why. */
export type CopyOutcome = EventCopy & ({ published: true } | { published: false; error: unknown });

/**
 * Publishes copies of events, each (event, topic) on its own: a topic that refuses its copies
 * holds back no other. Resolves once every copy is settled, with one outcome per copy in the
 * order asked; a refused copy is an outcome, never a rejection (callers keep the event in
 * the outbox until every route of its type has taken it).
 */
export interface EventBus {
  publish(copies: readonly EventCopy[]): Promise<CopyOutcome[]>;
}

/**
 * The copies routing asks for: each event to every topic its type routes to (none for a type
 * routing does not know).
 */
export function routedCopies(events: readonly Envelope[]): EventCopy[] {
  return events.flatMap((event) => (routesOf(event.type) ?? []).map((topic) => ({ event, topic })));
}
