import { randomUUID } from 'node:crypto';
import { createEvent, type Envelope } from '@orders/events';
import { messageOf } from '@orders/platform';
import {
  type EventDraft,
  isCompensation,
  isLegalTransition,
  NEW,
  type Parking,
  type SagaDefinition,
  type SagaIntent,
  type SagaState,
} from './saga';
import { CompensationRetryError, SagaInputRejectedError, SagaNotReadyError } from './saga-errors';
import type { DueSaga, SagaStore, SagaUnitOfWork, SavedSaga, Transition } from './saga-store';

/** What the engine logs through; any structured logger fits. */
export interface SagaLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): SagaLog;
}

export interface SagaEngineOptions<
  State extends SagaState,
  Input extends { type: string },
  Intent extends SagaIntent,
  Question,
> {
  definition: SagaDefinition<State, Input, Intent, Question>;
  store: SagaStore<State, Intent, Question, Input>;
  /** The producer named in emitted events. */
  source: string;
  /** Failures of a compensation before the saga is parked (see SagaDefinition.park). */
  maxCompensationAttempts: number;
  /** Whether a failure may pass on a later try (a dropped connection): never counted. */
  isRetryable(error: unknown): boolean;
  /** Ids of emitted events; random uuids unless a test gives its own. */
  newId?: () => string;
}

export interface ApplyOptions {
  /** The event behind the input; null for a deadline. Its id is claimed in the store. */
  causationId: string | null;
  /** The correlation id of a saga this input starts. */
  correlationId?: string | undefined;
  log: SagaLog;
  /** Only apply when the saga is at this version (deadlines: someone else may have moved it). */
  expectedVersion?: number;
}

/** The outcome of an input that moved the saga. */
export interface Applied {
  status: string;
  /** Written to the outbox with the saga; publish them after commit. */
  emitted: Envelope[];
}

/** Decisions one input may lead to (each answer is the next input) before it is refused. */
const maxDecisionsPerInput = 10;

/** What one input decided, as carried out so far in the unit of work. */
interface Run<State, Intent> {
  state: State | undefined;
  deadlineAt: Date | null;
  transitions: Transition[];
  intents: Intent[];
  emitted: Envelope[];
  /** Compensations that failed for good and were left out (last allowed attempt only). */
  owed: Intent[];
  failure: unknown;
  /** The deadline input was ignored: it is news that no longer matters. */
  deadlineIgnored: boolean;
  /** Why the input was set aside: committed as a flag, then dead-lettered with this reason. */
  setAside?: string;
}

/**
 * Runs a saga definition against a store. For each input, in one unit of work:
 * 1. load the saga (and the store's clock), claiming the input's event;
 * 2. decide, refusing an illegal transition; ask the world the decision's question and feed
 *    its answer back as the next input (reserve stock -> StockReserved -> ...); carry out
 *    compensations;
 * 3. commit the next state (version + 1 per transition), its history, its intents and its
 *    events; a concurrent change fails the unit as retryable.
 * A compensation that fails transiently is retried (the input fails as retryable) and not
 * counted. One that fails otherwise is counted (outside the unit, which rolls back); on the
 * last allowed attempt it runs isolated, and when it fails again the decision is carried
 * out without it and the saga parked, owing it (see SagaDefinition.park). A saga that moves
 * resets its count.
 */
export function createSagaEngine<
  State extends SagaState,
  Input extends { type: string },
  Intent extends SagaIntent,
  Question = never,
>(options: SagaEngineOptions<State, Input, Intent, Question>) {
  const { definition, store, source, maxCompensationAttempts, isRetryable } = options;
  const newId = options.newId ?? randomUUID;

  function stateOf(saved: SavedSaga): State {
    if (saved.definitionVersion > definition.version) {
      throw new SagaNotReadyError(
        saved.id,
        `saved by version ${saved.definitionVersion} of the ${definition.type} saga; this is version ${definition.version} (a newer deployment handles it)`,
      );
    }
    try {
      if (saved.definitionVersion < definition.version) {
        if (!definition.upgrade) {
          throw new Error(`version ${definition.version} declares no upgrade from it`);
        }
        return definition.upgrade(saved.state, saved.definitionVersion);
      }
      return definition.parseState(saved.state);
    } catch (error) {
      throw new SagaInputRejectedError(
        `saga ${saved.id} (saved by version ${saved.definitionVersion} of the ${definition.type} saga) cannot be read: ${messageOf(error)}`,
      );
    }
  }

  function stamp(
    drafts: readonly EventDraft[],
    correlationId: string,
    causationId: string | null,
    now: Date,
  ) {
    return drafts.map(
      (draft) =>
        createEvent(draft.type, draft.data as never, {
          source,
          correlationId,
          causationId,
          occurredAt: now,
          id: newId(),
        }) as Envelope,
    );
  }

  /**
   * Decides `input` (and the inputs the world answers with) and carries out compensations.
   * Not isolated: a compensation that fails throws CompensationFailed. Isolated: one that
   * fails for good is left out and reported in `owed`.
   */
  async function decideAll(
    unit: SagaUnitOfWork<State, Intent, Question, Input>,
    id: string,
    initial: State | undefined,
    input: Input,
    { causationId, correlationId, log }: ApplyOptions & { correlationId: string },
    isolated: boolean,
  ): Promise<Run<State, Intent>> {
    const run: Run<State, Intent> = {
      state: initial,
      deadlineAt: unit.saved?.deadlineAt ?? null,
      transitions: [],
      intents: [],
      emitted: [],
      owed: [],
      failure: undefined,
      deadlineIgnored: false,
    };
    const version = unit.saved?.version ?? 0;
    let next: Input | undefined = input;
    for (let step = 0; next && step < maxDecisionsPerInput; step++) {
      const current: Input = next;
      next = undefined;
      const outcome = definition.decide(run.state, current, { now: unit.now });
      if (outcome.kind === 'ignore') {
        log.info('saga input ignored', { sagaId: id, input: current.type, note: outcome.note });
        run.deadlineIgnored = step === 0 && current === definition.deadlinePassed;
        break;
      }
      if (outcome.kind === 'reject') throw new SagaInputRejectedError(outcome.reason);
      if (outcome.kind === 'retry-later') throw new SagaNotReadyError(id, outcome.reason);

      const from = run.state?.status ?? NEW;
      if (outcome.kind === 'set-aside') {
        // A flag, never a move: the saga's course is not the input's to change.
        if (step > 0 || outcome.state.status !== from) {
          throw new SagaInputRejectedError(
            `saga ${id}: a set-aside must leave the saga as it was (${from}), not move it to ${outcome.state.status}, on ${current.type}`,
          );
        }
        run.transitions.push({
          version: version + 1,
          from,
          to: from,
          cause: current.type,
          note: `set aside: ${outcome.reason}`,
          emitted: [],
        });
        run.state = outcome.state;
        run.setAside = outcome.reason;
        break;
      }
      if (!isLegalTransition(definition.transitions, from, outcome.state.status)) {
        throw new SagaInputRejectedError(
          `illegal transition of saga ${id} from ${from} to ${outcome.state.status} on ${current.type}`,
        );
      }
      for (const intent of outcome.intents) {
        if (!isCompensation(intent)) {
          run.intents.push(intent);
          continue;
        }
        try {
          await unit.compensate(intent, { isolated });
        } catch (error) {
          if (!isolated) throw new CompensationFailed(error);
          if (isRetryable(error)) throw error;
          run.owed.push(intent);
          run.failure ??= error;
        }
      }
      const emitted = stamp(outcome.events, correlationId, causationId, unit.now);
      run.emitted.push(...emitted);
      run.transitions.push({
        version: version + run.transitions.length + 1,
        from,
        to: outcome.state.status,
        cause: current.type,
        note: outcome.note,
        emitted: emitted.map((event) => event.id),
      });
      run.state = outcome.state;
      run.deadlineAt = outcome.deadlineAt;
      if (outcome.ask !== undefined) next = await unit.answer(outcome.ask);
    }
    if (next) {
      // Committing here would drop the last answer, after the world acted on its question.
      throw new SagaInputRejectedError(
        `saga ${id}: still deciding after ${maxDecisionsPerInput} decisions on ${input.type} (its questions and answers never end): ${next.type} left undecided`,
      );
    }
    return run;
  }

  /** Folds the decision that parks the saga into the run: one transition, from where it was. */
  function parkRun(
    run: Run<State, Intent>,
    saved: SavedSaga,
    input: Input,
    parking: Parking<State, Intent>,
    correlationId: string,
    causationId: string | null,
    now: Date,
    failures: number,
  ) {
    const reason = `compensation failed ${failures} times: ${messageOf(run.failure)}`;
    run.intents.push(...parking.intents);
    run.emitted.push(...stamp(parking.events, correlationId, causationId, now));
    run.transitions = [
      {
        version: saved.version + 1,
        from: saved.status,
        to: parking.state.status,
        cause: input.type,
        note: `${reason}; owed: ${run.owed.map((intent) => intent.kind).join(', ')}`,
        emitted: run.emitted.map((event) => event.id),
      },
    ];
    run.state = parking.state;
  }

  /**
   * Applies `input` to saga `id`. Returns what moved (its status and the events to publish
   * after commit), undefined when the input changed nothing, or 'duplicate' when its event
   * was handled before.
   * @throws SagaInputRejectedError for an input the saga rejects (dead-letter it), or sets
   *   aside (dead-letter it too: the flag it left on the saga has committed)
   * @throws SagaNotReadyError, SagaConflictError, CompensationRetryError, or a failing
   *   store (retry later)
   */
  async function apply(
    id: string,
    input: Input,
    options: ApplyOptions,
  ): Promise<Applied | undefined | 'duplicate'> {
    try {
      const applied = await store.transact(
        id,
        options.causationId,
        async (unit): Promise<Applied | { setAside: string } | undefined> => {
          const { saved } = unit;
          if (options.expectedVersion !== undefined && saved?.version !== options.expectedVersion) {
            return undefined;
          }
          const correlationId = saved?.correlationId ?? options.correlationId;
          if (!correlationId) throw new Error(`saga ${id}: no correlation id for its events`);
          const initial = saved ? stateOf(saved) : undefined;
          // On the last allowed attempt a failing compensation is left out, not retried.
          const lastAttempt =
            saved !== undefined && saved.failedAttempts + 1 >= maxCompensationAttempts;
          const context = { ...options, correlationId };
          const run = await decideAll(unit, id, initial, input, context, lastAttempt);
          let parked: { failedAttempts: number; lastError: string } | undefined;
          if (run.owed.length > 0 && saved && run.state) {
            const failures = saved.failedAttempts + 1;
            parkRun(
              run,
              saved,
              input,
              definition.park(run.state, run.owed),
              correlationId,
              options.causationId,
              unit.now,
              failures,
            );
            options.log.error('saga parked: a compensation keeps failing', {
              sagaId: id,
              failures,
              owed: run.owed.map((intent) => intent.kind),
              error: run.failure,
            });
            parked = { failedAttempts: failures, lastError: messageOf(run.failure) };
          }

          const { state, transitions } = run;
          if (transitions.length === 0 || !state) {
            if (run.deadlineIgnored && saved?.deadlineAt) await unit.forgetDeadline();
            return undefined;
          }
          await unit.commit({
            id,
            expectedVersion: saved?.version,
            definitionVersion: definition.version,
            state,
            deadlineAt: run.deadlineAt,
            transitions,
            intents: run.intents,
            events: run.emitted,
            causationId: options.causationId,
            ...(parked ? { parked } : {}),
          });
          if (run.setAside !== undefined) return { setAside: run.setAside };
          return { status: state.status, emitted: run.emitted };
        },
      );
      if (applied !== undefined && applied !== 'duplicate' && 'setAside' in applied) {
        options.log.warn('saga input set aside', {
          sagaId: id,
          input: input.type,
          reason: applied.setAside,
        });
        throw new SagaInputRejectedError(applied.setAside);
      }
      return applied;
    } catch (error) {
      if (!(error instanceof CompensationFailed)) throw error;
      // A transient failure is retried, and says nothing about the compensation itself.
      if (isRetryable(error.cause)) throw error.cause;
      // Counted where it survives the unit's rollback.
      await store.recordFailure(id, error.cause);
      throw new CompensationRetryError(id, error.cause);
    }
  }

  return {
    definition,
    apply,

    /**
     * Wakes every saga whose deadline had passed when the run began (by the store's clock),
     * oldest first, each in its own unit of work; `committed` hears of each one's emitted
     * events after its commit (publish them). A saga that fails is logged and left for the
     * next run; the others go on. Safe to run concurrently: a saga that moved meanwhile
     * (another sweeper, a late event) is left alone. Returns how many moved and failed.
     * `within` runs each saga's waking (in the trace it was last moved in, say), giving the
     * fields its log lines carry; a waking that failed rejects through it (after its line is
     * logged). By default it runs as is.
     */
    async wakeDue({
      log,
      committed,
      batchSize = 100,
      within = (_saga, work) => work({}),
    }: {
      log: SagaLog;
      committed(events: Envelope[]): Promise<unknown>;
      batchSize?: number;
      within?: (
        saga: DueSaga,
        work: (logFields: Record<string, unknown>) => Promise<void>,
      ) => Promise<void>;
    }): Promise<{ woken: number; failed: number }> {
      const cutoff = await store.now();
      let woken = 0;
      let failed = 0;
      let after: { deadlineAt: Date; id: string } | undefined;
      for (;;) {
        const due = await store.due(cutoff, after, batchSize);
        for (const saga of due) {
          try {
            await within(saga, async (logFields) => {
              const sagaLog = log.child({
                correlationId: saga.correlationId,
                sagaId: saga.id,
                ...logFields,
              });
              try {
                const applied = await apply(saga.id, definition.deadlinePassed, {
                  causationId: null,
                  expectedVersion: saga.version,
                  log: sagaLog,
                });
                if (applied && applied !== 'duplicate') {
                  woken++;
                  sagaLog.info('saga deadline passed', { status: applied.status });
                  await committed(applied.emitted);
                }
              } catch (error) {
                sagaLog[isRetryable(error) ? 'warn' : 'error'](
                  'saga deadline failed; the next run tries again',
                  { error },
                );
                // Out through `within` (a span ends in error), counted below.
                throw error;
              }
            });
          } catch {
            failed++;
          }
        }
        if (due.length < batchSize) return { woken, failed };
        const last = due[due.length - 1]!;
        after = { deadlineAt: last.deadlineAt, id: last.id };
      }
    },
  };
}

export type SagaEngine<
  State extends SagaState,
  Input extends { type: string },
  Intent extends SagaIntent,
  Question = never,
> = ReturnType<typeof createSagaEngine<State, Input, Intent, Question>>;

class CompensationFailed extends Error {
  override readonly name = 'CompensationFailed';
  constructor(override readonly cause: unknown) {
    super('compensation failed', { cause });
  }
}
