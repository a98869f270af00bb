import type { Envelope } from '@orders/events';
import { messageOf } from '@orders/platform';
import { SagaConflictError } from './saga-errors';
import type { DueSaga, SagaChange, SagaStore, SavedSaga, Transition } from './saga-store';

export interface InMemorySagaStoreOptions<Intent, Question, Input> {
  /** Answers a decision's question (the world's side of it). */
  answer(question: Question): Input | Promise<Input>;
  /** Carries out a compensation; throw to make it fail. */
  compensate?(intent: Intent): void | Promise<void>;
  /** The store's clock; a fixed time unless a test moves it. */
  now?: () => Date;
}

/**
 * A saga store in memory, for fast tests of a saga and of the engine, beside the stores on
 * PostgreSQL: a unit of work sees the store as it was when it began and
 * applies its change only when it commits, at the version it loaded.
 */
export function createInMemorySagaStore<State, Intent, Question, Input>(
  options: InMemorySagaStoreOptions<Intent, Question, Input>,
) {
  const sagas = new Map<string, SavedSaga & { lastError: string | null }>();
  const claims = new Set<string>();
  const history = new Map<string, (Transition & { causationId: string | null })[]>();
  /** Every intent and compensation carried out, and every event written, in commit order. */
  const carriedOut: Intent[] = [];
  const outbox: Envelope[] = [];
  const clock = options.now ?? (() => new Date('2026-01-01T00:00:00.000Z'));

  const store: SagaStore<State, Intent, Question, Input> = {
    async transact(id, eventId, work) {
      if (eventId !== null && claims.has(eventId)) return 'duplicate';
      const loaded = sagas.get(id);
      const saved = loaded ? structuredClone(loaded) : undefined;
      let change: SagaChange<State, Intent> | undefined;
      let forget = false;
      const compensated: Intent[] = [];
      const result = await work({
        now: clock(),
        saved,
        answer: async (question) => options.answer(question),
        async compensate(intent) {
          await options.compensate?.(intent);
          compensated.push(intent);
        },
        async commit(next) {
          change = next;
        },
        async forgetDeadline() {
          forget = true;
        },
      });
      const current = sagas.get(id);
      if (change) {
        if (current?.version !== change.expectedVersion) throw new SagaConflictError(id);
        const last = change.transitions.at(-1)!;
        sagas.set(id, {
          id,
          status: change.state.status,
          version: last.version,
          definitionVersion: change.definitionVersion,
          state: structuredClone(change.state),
          deadlineAt: change.deadlineAt,
          correlationId: current?.correlationId ?? change.state.correlationId,
          failedAttempts: change.parked?.failedAttempts ?? 0,
          lastError: change.parked?.lastError ?? null,
        });
        history.set(id, [
          ...(history.get(id) ?? []),
          ...change.transitions.map((t) => ({ ...t, causationId: change!.causationId })),
        ]);
        carriedOut.push(...compensated, ...change.intents);
        outbox.push(...change.events);
      } else if (forget && current && current.version === saved?.version) {
        current.deadlineAt = null;
      }
      if (eventId !== null) claims.add(eventId);
      return result;
    },

    async recordFailure(id, error) {
      const saga = sagas.get(id);
      if (!saga) return;
      saga.failedAttempts++;
      saga.lastError = messageOf(error);
    },

    async now() {
      return clock();
    },

    async due(cutoff, after, limit) {
      const due: DueSaga[] = [...sagas.values()]
        .filter((saga) => saga.deadlineAt !== null && saga.deadlineAt <= cutoff)
        .map((saga) => ({
          id: saga.id,
          version: saga.version,
          correlationId: saga.correlationId,
          deadlineAt: saga.deadlineAt!,
        }))
        .sort((a, b) => a.deadlineAt.getTime() - b.deadlineAt.getTime() || (a.id < b.id ? -1 : 1));
      return due
        .filter(
          (saga) =>
            !after ||
            saga.deadlineAt > after.deadlineAt ||
            (saga.deadlineAt.getTime() === after.deadlineAt.getTime() && saga.id > after.id),
        )
        .slice(0, limit);
    },
  };

  return {
    store,
    /** A saga as saved, with the last failure counted against it. */
    saga: (id: string) => sagas.get(id),
    history: (id: string) => history.get(id) ?? [],
    carriedOut,
    outbox,
    /** Saves a saga as another definition version would have (tests of versioning). */
    put(saga: SavedSaga) {
      sagas.set(saga.id, { ...saga, lastError: null });
    },
  };
}
