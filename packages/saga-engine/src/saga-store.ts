import type { Envelope } from '@orders/events';
import type { TraceContext } from '@orders/platform';

/** A saga as its store saved it; `state` is parsed by the definition before use. */
export interface SavedSaga {
  id: string;
  status: string;
  /** Moves by one per transition; a save expects the version it loaded. */
  version: number;
  /** The definition version that saved it (`SagaDefinition.version`). */
  definitionVersion: number;
  state: unknown;
  deadlineAt: Date | null;
  correlationId: string;
  /** Failures of a compensation since the saga last moved. */
  failedAttempts: number;
}

export interface Transition {
  /** The saga's version after this transition. */
  version: number;
  from: string;
  to: string;
  /** The input's type. */
  cause: string;
  note?: string | undefined;
  /** The ids of the events this transition emitted: the history shows what each step sent. */
  emitted: string[];
}

/** Everything one input changed, for the store to write in one unit of work. */
export interface SagaChange<State, Intent> {
  id: string;
  /** The version the change was decided on; undefined for a new saga. */
  expectedVersion: number | undefined;
  definitionVersion: number;
  state: State & { status: string; correlationId: string };
  deadlineAt: Date | null;
  transitions: Transition[];
  /** Intents to carry out (compensations are not among them: see `compensate`), in order. */
  intents: Intent[];
  /** Events to write to the outbox; the caller publishes them after commit. */
  events: Envelope[];
  /** Set when the saga is parked: the failures counted and the last one's message. */
  parked?: { failedAttempts: number; lastError: string };
  /** The id of the event behind the input; null for a deadline. */
  causationId: string | null;
}

/**
 * One unit of work on one saga: everything it does commits or rolls back together.
 */
export interface SagaUnitOfWork<State, Intent, Question, Input> {
  /** The store's clock (the database's time), read once when the unit began. */
  readonly now: Date;
  readonly saved: SavedSaga | undefined;
  /** Asks the world the decision's question; the answer is the saga's next input. */
  answer(question: Question): Promise<Input>;
  /**
   * Carries out a compensation now. `isolated`: a failure leaves the unit of work usable
   * (the compensation alone is undone), so that the rest of the decision can still commit.
   */
  compensate(intent: Intent, options: { isolated: boolean }): Promise<void>;
  /** Writes the change. @throws SagaConflictError when the saga moved since it was loaded. */
  commit(change: SagaChange<State, Intent>): Promise<void>;
  /** Forgets the saga's deadline, if it is still at the version loaded. */
  forgetDeadline(): Promise<void>;
}

/** A saga whose deadline has passed. */
export interface DueSaga {
  id: string;
  version: number;
  correlationId: string;
  deadlineAt: Date;
  /** The trace of the work that last moved it, when the store keeps one. */
  trace?: TraceContext | undefined;
}

/**
 * Where a saga engine keeps its sagas. An adapter writes everything an input changes
 * (the saga, its history, its intents, its outbox rows, the inbox claim) in one unit of work.
 */
export interface SagaStore<State, Intent, Question, Input> {
  /**
   * Runs `work` in one unit of work on saga `id`, claiming `eventId` (when given) for this
   * consumer first: returns 'duplicate' without running it when the event was handled
   * before. Commits when `work` resolves, rolls back when it throws.
   */
  transact<T>(
    id: string,
    eventId: string | null,
    work: (unit: SagaUnitOfWork<State, Intent, Question, Input>) => Promise<T>,
  ): Promise<T | 'duplicate'>;
  /** Counts a failed compensation, outside any unit of work (which rolled back). */
  recordFailure(id: string, error: unknown): Promise<void>;
  /** The store's clock. */
  now(): Promise<Date>;
  /** Sagas whose deadline is at or before `cutoff`, ordered by (deadline, id), after `after`. */
  due(
    cutoff: Date,
    after: { deadlineAt: Date; id: string } | undefined,
    limit: number,
  ): Promise<DueSaga[]>;
}
