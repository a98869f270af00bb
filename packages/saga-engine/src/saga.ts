import type { EventData, EventType } from '@orders/events';

/**
 * A saga decides; it never acts. Given its state and an input it returns a decision, as
 * data: the next state, the effects on the world it intends, the events it emits, the one
 * question it needs the world to answer before it goes on, and when it wants to be woken.
 * A store (see `SagaStore`) carries a decision out in one unit of work. A definition mints
 * no ids and reads no clock: the engine stamps the events, and `now` is given.
 */
export interface SagaDefinition<
  State extends SagaState,
  Input extends { type: string },
  Intent extends SagaIntent,
  Question = never,
> {
  type: string;
  /**
   * The version of the decisions and of the state's shape, saved on each saga. Bump it when
   * either changes: a saga saved by another version is never decided by this one as if it
   * were its own (see `upgrade`).
   */
  version: number;
  /** Reads a saved state, throwing when it is not one this version can decide on. */
  parseState(saved: unknown): State;
  /**
   * Reads the state a saga saved at an older `fromVersion`. Without it, such a saga is
   * refused (its input dead-lettered with the reason) instead of decided on by rules it was
   * not started under.
   */
  upgrade?(saved: unknown, fromVersion: number): State;
  /** The statuses each status may move to; the engine refuses any other move. */
  transitions: Readonly<Record<string, readonly string[]>>;
  decide(
    state: State | undefined,
    input: Input,
    context: DecideContext,
  ): Outcome<State, Intent, Question>;
  /** The input a saga receives when its deadline passes. */
  deadlinePassed: Input;
  /**
   * What to do when compensations keep failing: the engine carries out the rest of the
   * decision (every other step, so that nothing else that gives money or stock back is
   * dropped), then parks the saga: `state` is the decided state, `owed` the compensations
   * that could not be carried out. Returns the decision that parks it (a status an operator
   * watches, such as NEEDS_ATTENTION, in a state that remembers what is owed), its intents
   * and events. The parked saga keeps the deadline of the decision it parks.
   */
  park(state: State, owed: readonly Intent[]): Parking<State, Intent>;
}

/** What every saga's state holds: its status, and the correlation id its events carry. */
export interface SagaState {
  status: string;
  correlationId: string;
}

/**
 * An effect on the world a decision intends (reserve stock, set an order's status). A
 * compensation undoes an earlier step; when it keeps failing the saga is parked, owing it.
 */
export interface SagaIntent {
  kind: string;
  compensation?: true;
}

export interface DecideContext {
  /** The database's time when the input is handled. */
  now: Date;
}

/** An event a decision emits; the engine gives it its id, time, correlation and causation. */
export type EventDraft = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

export interface Decision<State, Intent, Question> {
  kind: 'decision';
  state: State;
  /**
   * Carried out in the unit of work that saves the state: compensations at once, as the
   * decision is made (a failing one may park the saga); the others when the unit commits,
   * in the order of the decisions that asked for them.
   */
  intents: Intent[];
  events: EventDraft[];
  /** A question the world answers with the saga's next input (was the stock reserved?). */
  ask?: Question;
  deadlineAt: Date | null;
  note?: string;
}

/** The decision that parks a saga: it asks nothing, and keeps the parked decision's deadline. */
export type Parking<State, Intent> = Pick<
  Decision<State, Intent, never>,
  'state' | 'intents' | 'events'
>;

export type Outcome<State, Intent, Question = never> =
  /** Move on. */
  | Decision<State, Intent, Question>
  /** Nothing to do: a duplicate, or news that no longer matters. Recorded, not an error. */
  | { kind: 'ignore'; note: string }
  /** Cannot happen in a correct system (a failure after a confirmation): dead-letter it. */
  | { kind: 'reject'; reason: string }
  /**
   * Not to be believed (news of another payment than the saga asked for): the saga does not
   * act on it, but remembers it. `state` is the saga's state with the flag an operator sees,
   * in the same status; it commits with a history row noting `reason`, and the input is
   * then dead-lettered with `reason` (SagaInputRejectedError after the commit).
   */
  | { kind: 'set-aside'; state: State; reason: string }
  /** Arrived before what it depends on (no saga yet): Pub/Sub should redeliver it later. */
  | { kind: 'retry-later'; reason: string };

/** A decision; what it leaves out is empty (no intents, no events, no deadline). */
export function decision<State, Intent, Question = never>(
  state: State,
  parts: {
    intents?: Intent[];
    events?: EventDraft[];
    ask?: Question;
    deadlineAt?: Date | null;
    note?: string;
  } = {},
): Decision<State, Intent, Question> {
  return {
    kind: 'decision',
    state,
    intents: parts.intents ?? [],
    events: parts.events ?? [],
    ...(parts.ask === undefined ? {} : { ask: parts.ask }),
    deadlineAt: parts.deadlineAt ?? null,
    ...(parts.note === undefined ? {} : { note: parts.note }),
  };
}

/** The status a saga has before its first decision. */
export const NEW = 'NEW';

export function isLegalTransition(
  transitions: Readonly<Record<string, readonly string[]>>,
  from: string,
  to: string,
): boolean {
  return from === to || (transitions[from]?.includes(to) ?? false);
}

export function isCompensation(intent: SagaIntent): boolean {
  return intent.compensation === true;
}
