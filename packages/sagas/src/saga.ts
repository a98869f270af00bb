/**
 * A saga decides; it never acts. Given its state and an input it returns a decision: the
 * next state, the commands to carry out (in order), and when it wants to be woken up. The
 * engine persists the state and carries the commands out in one transaction.
 */
export interface SagaDefinition<State extends { status: string }, Input, Command> {
  type: string;
  /** The statuses each status may move to; the engine refuses any other move. */
  transitions: Readonly<Record<string, readonly string[]>>;
  decide(state: State | undefined, input: Input, context: DecideContext): Outcome<State, Command>;
  /** The input a saga receives when its deadline passes. */
  deadlinePassed: Input;
  /**
   * What to do when compensations keep failing: the engine carries out the rest of the
   * decision (every other step, so that nothing else that gives money or stock back is
   * dropped), then parks the saga: `state` is the decided state, `failed` the compensations
   * that could not be carried out. Returns the state to park in (a status an operator
   * watches, such as NEEDS_ATTENTION, that remembers what is owed) and the commands that make
   * it visible.
   */
  park(state: State, failed: readonly Command[]): { state: State; commands: Command[] };
}

export interface DecideContext {
  now: Date;
  /** The id of the event behind this input (null for a deadline): events emitted cite it. */
  causationId: string | null;
}

export type Outcome<State, Command> =
  /** Move on. */
  | { kind: 'decision'; state: State; commands: Command[]; deadlineAt: Date | null; note?: string }
  /** Nothing to do: a duplicate, or news that no longer matters. Recorded, not an error. */
  | { kind: 'ignore'; note: string }
  /** Cannot happen in a correct system (a failure after a confirmation): dead-letter it. */
  | { kind: 'reject'; reason: string }
  /** Arrived before what it depends on (no saga yet): Pub/Sub should redeliver it later. */
  | { kind: 'retry-later'; reason: string };

export const decision = <State, Command>(
  state: State,
  commands: Command[],
  deadlineAt: Date | null,
  note?: string,
): Outcome<State, Command> => ({ kind: 'decision', state, commands, deadlineAt, note });

/** The status a saga has before its first decision. */
export const NEW = 'NEW';

export function isLegalTransition(
  transitions: SagaDefinition<{ status: string }, unknown, unknown>['transitions'],
  from: string,
  to: string,
): boolean {
  return from === to || (transitions[from]?.includes(to) ?? false);
}
