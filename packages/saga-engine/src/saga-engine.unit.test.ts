import { describe, expect, it } from '@jest/globals';
import type { Envelope } from '@orders/events';
import { createInMemorySagaStore } from './in-memory-saga-store';
import { decision, NEW, type SagaDefinition, type SagaState } from './saga';
import { createSagaEngine, type SagaLog } from './saga-engine';
import {
  CompensationRetryError,
  SagaConflictError,
  SagaInputRejectedError,
  SagaNotReadyError,
} from './saga-errors';
import type { SavedSaga } from './saga-store';

// The engine on its own, with the in-memory store and a toy saga (a hold on something, then
// its confirmation or cancellation): no database, no order saga.

const toyStatuses = ['ASKING', 'HOLDING', 'WAITING', 'DONE', 'CANCELLED', 'PARKED'] as const;
type ToyStatus = (typeof toyStatuses)[number];

type ToyIntent =
  | { kind: 'Unhold'; orderId: string; compensation: true }
  | { kind: 'Notify'; orderId: string }
  | { kind: 'Ship'; orderId: string }
  | { kind: 'Alert'; orderId: string };

interface ToyState extends SagaState {
  status: ToyStatus;
  orderId: string;
  /** Added by version 2: how many holds it took (a saga saved by version 1 held once). */
  holds: number;
  owed?: ToyIntent[];
  /** What it was told and did not believe (set aside). */
  doubted?: string[];
}

type ToyInput =
  | { type: 'Start'; orderId: string; correlationId: string }
  | { type: 'Held' }
  | { type: 'NotHeld' }
  | { type: 'Confirm' }
  | { type: 'Cancel' }
  | { type: 'Wait' }
  | { type: 'Teleport' }
  | { type: 'Reject' }
  | { type: 'Doubt'; claim: string }
  | { type: 'DoubtAndMove' }
  | { type: 'Ping' }
  | { type: 'DeadlinePassed' };

type ToyQuestion = { kind: 'Hold'; orderId: string } | { kind: 'Ping' };

function parseToyState(saved: unknown): ToyState {
  const state = saved as Partial<ToyState> | null;
  if (typeof state !== 'object' || state === null) throw new Error('not an object');
  if (!toyStatuses.includes(state.status as ToyStatus)) {
    throw new Error(`unknown status ${String(state.status)}`);
  }
  if (typeof state.orderId !== 'string' || typeof state.correlationId !== 'string') {
    throw new Error('no order or correlation id');
  }
  if (typeof state.holds !== 'number') throw new Error('no holds count');
  return structuredClone(state) as ToyState;
}

const holdMs = 1_000;

const toy: SagaDefinition<ToyState, ToyInput, ToyIntent, ToyQuestion> = {
  type: 'toy',
  version: 2,
  parseState: parseToyState,
  upgrade(saved, fromVersion) {
    if (fromVersion !== 1) throw new Error(`no upgrade from version ${fromVersion}`);
    return parseToyState({ ...(saved as object), holds: 1 });
  },
  transitions: {
    [NEW]: ['ASKING'],
    ASKING: ['HOLDING', 'CANCELLED'],
    HOLDING: ['DONE', 'CANCELLED', 'WAITING'],
    WAITING: ['DONE'],
    CANCELLED: ['PARKED'],
    DONE: [],
    PARKED: [],
  },
  decide(state, input, { now }) {
    if (!state) {
      if (input.type !== 'Start') {
        return { kind: 'retry-later', reason: `${input.type} before its Start` };
      }
      const { orderId, correlationId } = input;
      return decision(
        { status: 'ASKING', orderId, correlationId, holds: 0 },
        { ask: { kind: 'Hold', orderId } },
      );
    }
    const { orderId } = state;
    const ignore = (note: string) => ({ kind: 'ignore', note }) as const;
    switch (input.type) {
      case 'Start':
        return ignore('already started');
      case 'Held':
        if (state.status !== 'ASKING') return ignore('already held');
        return decision(
          { ...state, status: 'HOLDING', holds: state.holds + 1 },
          {
            intents: [{ kind: 'Notify', orderId }],
            deadlineAt: new Date(now.getTime() + holdMs),
          },
        );
      case 'NotHeld':
        if (state.status !== 'ASKING') return ignore('already held');
        return decision(
          { ...state, status: 'CANCELLED' },
          { events: [{ type: 'OrderCancelled', data: { orderId, reason: 'out_of_stock' } }] },
        );
      case 'Confirm':
        if (state.status !== 'HOLDING' && state.status !== 'WAITING') return ignore('not held');
        return decision(
          { ...state, status: 'DONE' },
          {
            intents: [{ kind: 'Ship', orderId }],
            events: [
              {
                type: 'OrderConfirmed',
                data: { orderId, totalMinor: 100 * state.holds, currency: 'EUR' },
              },
            ],
            note: `held ${state.holds} time(s)`,
          },
        );
      case 'Cancel':
        if (state.status !== 'HOLDING') return ignore('not held');
        return decision(
          { ...state, status: 'CANCELLED' },
          {
            intents: [
              { kind: 'Unhold', orderId, compensation: true },
              { kind: 'Notify', orderId },
            ],
            events: [{ type: 'OrderCancelled', data: { orderId, reason: 'payment_declined' } }],
          },
        );
      case 'Wait':
        if (state.status !== 'HOLDING') return ignore('not held');
        return decision(
          { ...state, status: 'WAITING' },
          { deadlineAt: new Date(now.getTime() + holdMs) },
        );
      case 'DeadlinePassed':
        if (state.status !== 'HOLDING') return ignore('deadline no longer relevant');
        return decision(
          { ...state, status: 'CANCELLED' },
          {
            intents: [{ kind: 'Unhold', orderId, compensation: true }],
            events: [{ type: 'OrderCancelled', data: { orderId, reason: 'payment_timeout' } }],
          },
        );
      case 'Teleport':
        return decision({ ...state, status: 'ASKING' });
      case 'Reject':
        return { kind: 'reject', reason: 'a Reject can never be taken' };
      case 'Doubt':
        return {
          kind: 'set-aside',
          state: { ...state, doubted: [...(state.doubted ?? []), input.claim] },
          reason: `not believed: ${input.claim}`,
        };
      case 'DoubtAndMove':
        // A definition bug: a set-aside that would move the saga.
        return { kind: 'set-aside', state: { ...state, status: 'DONE' }, reason: 'moves' };
      case 'Ping':
        // A definition bug: asks the same question of every answer, forever.
        return decision(state, { ask: { kind: 'Ping' } });
    }
  },
  deadlinePassed: { type: 'DeadlinePassed' },
  park(state, owed) {
    const parked: ToyState = { ...state, status: 'PARKED', owed: [...owed] };
    return decision(parked, { intents: [{ kind: 'Alert', orderId: state.orderId }] });
  },
};

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';
const D = '00000000-0000-4000-8000-00000000000d';
const E = '00000000-0000-4000-8000-00000000000e';
const correlationId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const t0 = new Date('2026-11-28T10:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

/** A transient failure (a dropped connection): `retryable`, as isRetryable reads it. */
class Transient extends Error {
  readonly retryable = true;
}
const isRetryable = (error: unknown) =>
  typeof error === 'object' && error !== null && (error as Transient).retryable === true;

type LogLine = {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
};

function recordingLog(
  lines: LogLine[] = [],
  context: Record<string, unknown> = {},
): SagaLog & {
  lines: LogLine[];
} {
  const record = (level: LogLine['level']) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, message, fields: { ...context, ...fields } });
  return {
    lines,
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: (fields) => recordingLog(lines, { ...context, ...fields }),
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

interface Setup {
  /** The world's answer to a question; StockReserved-like `Held` unless told. */
  answer?(question: ToyQuestion): ToyInput | Promise<ToyInput>;
  compensate?(intent: ToyIntent): void | Promise<void>;
  maxCompensationAttempts?: number;
  definition?: SagaDefinition<ToyState, ToyInput, ToyIntent, ToyQuestion>;
}

function setup(options: Setup = {}) {
  const time = { now: t0 };
  const asked: ToyQuestion[] = [];
  const memory = createInMemorySagaStore<ToyState, ToyIntent, ToyQuestion, ToyInput>({
    answer: (question) => {
      asked.push(question);
      return options.answer?.(question) ?? { type: 'Held' };
    },
    compensate: (intent) => options.compensate?.(intent),
    now: () => time.now,
  });
  let ids = 0;
  const engine = createSagaEngine({
    definition: options.definition ?? toy,
    store: memory.store,
    source: 'toy-service',
    maxCompensationAttempts: options.maxCompensationAttempts ?? 3,
    isRetryable,
    newId: () => `event-${++ids}`,
  });
  const log = recordingLog();
  return {
    time,
    asked,
    memory,
    engine,
    log,
    /** Applies `input` to saga `id` as the event `eventId`. */
    apply: (id: string, input: ToyInput, eventId: string | null) =>
      engine.apply(id, input, { causationId: eventId, correlationId, log }),
    /** Starts saga `id` (its order's id), as the event `start-<id>`. */
    start: (id: string) =>
      engine.apply(
        id,
        { type: 'Start', orderId: id, correlationId },
        { causationId: `start-${id}`, correlationId, log },
      ),
  };
}

/** A saga as another deployment saved it (see the versioning tests). */
function savedSaga(definitionVersion: number, state: unknown): SavedSaga {
  return {
    id: A,
    status: 'HOLDING',
    version: 2,
    definitionVersion,
    state,
    deadlineAt: null,
    correlationId,
    failedAttempts: 0,
  };
}

describe('saga engine', () => {
  describe('an input', () => {
    it('starts a new saga, asks its question and decides on the answer as its next input', async () => {
      const { apply, memory, asked, time } = setup();
      time.now = at(5);
      const applied = await apply(A, { type: 'Start', orderId: A, correlationId }, 'in-1');

      expect(applied).toEqual({ status: 'HOLDING', emitted: [] });
      expect(asked).toEqual([{ kind: 'Hold', orderId: A }]);
      expect(memory.saga(A)).toEqual({
        id: A,
        status: 'HOLDING',
        version: 2,
        definitionVersion: 2,
        state: { status: 'HOLDING', orderId: A, correlationId, holds: 1 },
        // Decided with the store's clock.
        deadlineAt: at(5 + holdMs),
        correlationId,
        failedAttempts: 0,
        lastError: null,
      });
      expect(memory.carriedOut).toEqual([{ kind: 'Notify', orderId: A }]);
    });

    it('goes wherever the answer leads: cancelled when the hold is refused', async () => {
      const { start, memory } = setup({ answer: () => ({ type: 'NotHeld' }) });
      const applied = await start(A);
      expect(applied).toEqual({
        status: 'CANCELLED',
        emitted: [expect.objectContaining({ type: 'OrderCancelled', id: 'event-1' })],
      });
      expect(
        memory.history(A).map((t) => `${t.version}: ${t.from} -> ${t.to} on ${t.cause}`),
      ).toEqual(['1: NEW -> ASKING on Start', '2: ASKING -> CANCELLED on NotHeld']);
      expect(memory.saga(A)?.deadlineAt).toBeNull();
    });

    it('records each transition with its version, cause and the ids of the events it emitted', async () => {
      const { start, apply, memory } = setup();
      await start(A);
      await apply(A, { type: 'Confirm' }, 'in-2');

      expect(memory.history(A)).toEqual([
        {
          version: 1,
          from: NEW,
          to: 'ASKING',
          cause: 'Start',
          note: undefined,
          emitted: [],
          causationId: `start-${A}`,
        },
        {
          version: 2,
          from: 'ASKING',
          to: 'HOLDING',
          cause: 'Held',
          note: undefined,
          emitted: [],
          causationId: `start-${A}`,
        },
        {
          version: 3,
          from: 'HOLDING',
          to: 'DONE',
          cause: 'Confirm',
          note: 'held 1 time(s)',
          emitted: ['event-1'],
          causationId: 'in-2',
        },
      ]);
      expect(memory.saga(A)).toMatchObject({ status: 'DONE', version: 3, deadlineAt: null });
      expect(memory.carriedOut).toEqual([
        { kind: 'Notify', orderId: A },
        { kind: 'Ship', orderId: A },
      ]);
    });

    it('stamps the events it emits: id, source, correlation, causation and the store clock', async () => {
      const { start, apply, memory, time } = setup();
      await start(A);
      time.now = at(42_000);
      const applied = await apply(A, { type: 'Confirm' }, 'in-2');

      const confirmed = {
        id: 'event-1',
        type: 'OrderConfirmed',
        version: 1,
        source: 'toy-service',
        occurredAt: at(42_000).toISOString(),
        correlationId,
        causationId: 'in-2',
        subject: A,
        data: { orderId: A, totalMinor: 100, currency: 'EUR' },
      };
      expect(applied).toEqual({ status: 'DONE', emitted: [confirmed] });
      // Written with the saga, for the caller to publish after commit.
      expect(memory.outbox).toEqual([confirmed]);
    });

    it('changes nothing when the decision ignores it, and says so', async () => {
      const { start, apply, memory, log } = setup();
      await start(A);
      const before = structuredClone(memory.saga(A));

      expect(await apply(A, { type: 'Start', orderId: A, correlationId }, 'in-again')).toBe(
        undefined,
      );
      expect(memory.saga(A)).toEqual(before);
      expect(memory.history(A)).toHaveLength(2);
      expect(log.lines).toContainEqual({
        level: 'info',
        message: 'saga input ignored',
        fields: { sagaId: A, input: 'Start', note: 'already started' },
      });
      // Handled all the same: its redelivery is a duplicate.
      expect(await apply(A, { type: 'Start', orderId: A, correlationId }, 'in-again')).toBe(
        'duplicate',
      );
    });

    it('rejects what the decision rejects, changing nothing (the input is dead-lettered)', async () => {
      const { start, apply, memory } = setup();
      await start(A);
      const before = structuredClone(memory.saga(A));

      const rejected = apply(A, { type: 'Reject' }, 'in-reject');
      await expect(rejected).rejects.toBeInstanceOf(SagaInputRejectedError);
      await expect(rejected).rejects.toMatchObject({ reason: 'a Reject can never be taken' });
      expect(isRetryable(await rejected.catch((error: unknown) => error))).toBe(false);
      expect(memory.saga(A)).toEqual(before);
      // Not claimed: rolled back with the rest.
      await expect(apply(A, { type: 'Reject' }, 'in-reject')).rejects.toBeInstanceOf(
        SagaInputRejectedError,
      );
    });

    it('sets aside what the decision does not believe: the flag commits, its history says why, and the input is dead-lettered', async () => {
      const { start, apply, memory, log } = setup();
      await start(A);
      const before = structuredClone(memory.saga(A)!);

      const doubted = apply(A, { type: 'Doubt', claim: 'paid twice' }, 'in-doubt');
      await expect(doubted).rejects.toBeInstanceOf(SagaInputRejectedError);
      await expect(doubted).rejects.toMatchObject({ reason: 'not believed: paid twice' });
      expect(isRetryable(await doubted.catch((error: unknown) => error))).toBe(false);
      // Same status, same deadline, nothing carried out or emitted: only the flag.
      expect(memory.saga(A)).toMatchObject({
        status: 'HOLDING',
        version: 3,
        deadlineAt: before.deadlineAt,
        state: { ...(before.state as ToyState), doubted: ['paid twice'] },
      });
      expect(memory.history(A)[2]).toEqual({
        version: 3,
        from: 'HOLDING',
        to: 'HOLDING',
        cause: 'Doubt',
        note: 'set aside: not believed: paid twice',
        emitted: [],
        causationId: 'in-doubt',
      });
      expect(memory.carriedOut).toEqual([{ kind: 'Notify', orderId: A }]);
      expect(log.lines).toContainEqual({
        level: 'warn',
        message: 'saga input set aside',
        fields: { sagaId: A, input: 'Doubt', reason: 'not believed: paid twice' },
      });
      // Claimed with the flag: its redelivery changes nothing more.
      expect(await apply(A, { type: 'Doubt', claim: 'paid twice' }, 'in-doubt')).toBe('duplicate');
      // And the saga goes on as if it had never heard it.
      await apply(A, { type: 'Confirm' }, 'in-confirm');
      expect(memory.saga(A)).toMatchObject({ status: 'DONE', version: 4 });
    });

    it('refuses a set-aside that would move the saga, changing nothing', async () => {
      const { start, apply, memory } = setup();
      await start(A);
      const before = structuredClone(memory.saga(A));

      await expect(apply(A, { type: 'DoubtAndMove' }, 'in-doubt')).rejects.toThrow(
        new SagaInputRejectedError(
          `saga ${A}: a set-aside must leave the saga as it was (HOLDING), not move it to DONE, on DoubtAndMove`,
        ),
      );
      expect(memory.saga(A)).toEqual(before);
    });

    it('asks for a later retry of an input that came before what it depends on', async () => {
      const { apply, memory } = setup();
      const early = apply(A, { type: 'Confirm' }, 'in-early');
      await expect(early).rejects.toBeInstanceOf(SagaNotReadyError);
      await expect(early).rejects.toMatchObject({
        sagaId: A,
        reason: 'Confirm before its Start',
        retryable: true,
      });
      expect(memory.saga(A)).toBeUndefined();
    });

    it('refuses an illegal transition, changing nothing', async () => {
      const { start, apply, memory } = setup();
      await start(A);
      const before = structuredClone(memory.saga(A));

      await expect(apply(A, { type: 'Teleport' }, 'in-teleport')).rejects.toThrow(
        new SagaInputRejectedError(
          `illegal transition of saga ${A} from HOLDING to ASKING on Teleport`,
        ),
      );
      expect(memory.saga(A)).toEqual(before);
      expect(memory.history(A)).toHaveLength(2);
    });

    it('answers a redelivered event with "duplicate", changing nothing', async () => {
      const { start, apply, memory, asked } = setup();
      await start(A);
      expect(await apply(A, { type: 'Confirm' }, `start-${A}`)).toBe('duplicate');
      expect(await start(A)).toBe('duplicate');
      expect(memory.saga(A)).toMatchObject({ status: 'HOLDING', version: 2 });
      expect(asked).toHaveLength(1);
    });

    it('needs a correlation id to start a saga', async () => {
      const { engine, log, memory } = setup();
      await expect(
        engine.apply(A, { type: 'Start', orderId: A, correlationId }, { causationId: 'x', log }),
      ).rejects.toThrow(`saga ${A}: no correlation id for its events`);
      expect(memory.saga(A)).toBeUndefined();
    });

    it('refuses a question-and-answer loop that never ends, changing nothing', async () => {
      const { start, apply, memory, asked } = setup({
        answer: (question) => (question.kind === 'Ping' ? { type: 'Ping' } : { type: 'Held' }),
      });
      await start(A);
      const before = structuredClone(memory.saga(A));
      // Not committed half-way: the last answer would be lost after the world acted on it.
      await expect(apply(A, { type: 'Ping' }, 'in-ping')).rejects.toThrow(
        new SagaInputRejectedError(
          `saga ${A}: still deciding after 10 decisions on Ping (its questions and answers never end): Ping left undecided`,
        ),
      );
      expect(asked).toHaveLength(1 + 10);
      expect(memory.saga(A)).toEqual(before);
      expect(memory.history(A)).toHaveLength(2);
    });
  });

  describe('concurrency', () => {
    it('commits the first of two applies decided on the same version, and refuses the other as retryable', async () => {
      const gate = deferred();
      let waiting = true;
      const { start, apply, memory } = setup({
        compensate: async () => {
          if (waiting) {
            waiting = false;
            await gate.promise;
          }
        },
      });
      await start(A);

      // Loads version 2, then waits in its compensation...
      const slow = apply(A, { type: 'Cancel' }, 'in-cancel');
      // ...while another input moves the saga on from version 2.
      expect(await apply(A, { type: 'Confirm' }, 'in-confirm')).toMatchObject({ status: 'DONE' });
      gate.resolve();

      await expect(slow).rejects.toBeInstanceOf(SagaConflictError);
      expect(isRetryable(await slow.catch((error: unknown) => error))).toBe(true);
      expect(memory.saga(A)).toMatchObject({ status: 'DONE', version: 3 });
      expect(memory.history(A).map((t) => t.cause)).toEqual(['Start', 'Held', 'Confirm']);
      // Nothing of the refused unit was carried out or written.
      expect(memory.carriedOut.map((intent) => intent.kind)).toEqual(['Notify', 'Ship']);
      expect(memory.outbox.map((event) => event.type)).toEqual(['OrderConfirmed']);
      // Not claimed: its retry decides on the new state (and ignores it).
      expect(await apply(A, { type: 'Cancel' }, 'in-cancel')).toBeUndefined();
    });

    it('starts a saga once when two first inputs race', async () => {
      const gate = deferred();
      let waiting = true;
      const { start, apply, memory, asked } = setup({
        answer: async () => {
          if (waiting) {
            waiting = false;
            await gate.promise;
          }
          return { type: 'Held' };
        },
      });

      // Finds no saga, then waits for the answer to its question...
      const first = start(A);
      // ...while another first input starts it.
      const second = await apply(A, { type: 'Start', orderId: A, correlationId }, 'start-again');
      expect(second).toMatchObject({ status: 'HOLDING' });
      gate.resolve();

      await expect(first).rejects.toBeInstanceOf(SagaConflictError);
      expect(asked).toHaveLength(2);
      expect(memory.saga(A)).toMatchObject({ status: 'HOLDING', version: 2 });
      expect(memory.history(A).map((t) => t.causationId)).toEqual(['start-again', 'start-again']);
      expect(memory.carriedOut).toHaveLength(1);
    });
  });

  describe('a compensation that fails', () => {
    const refused = new Error('warehouse says no');
    const refusing = (intent: ToyIntent) => {
      if (intent.kind === 'Unhold') throw refused;
    };

    it('is counted and retried until the last allowed attempt, then the saga is parked owing it', async () => {
      const { start, apply, memory, log } = setup({ compensate: refusing });
      await start(A);

      for (const attempt of [1, 2]) {
        const failed = apply(A, { type: 'Cancel' }, 'in-cancel');
        await expect(failed).rejects.toBeInstanceOf(CompensationRetryError);
        const error = await failed.catch((e: unknown) => e);
        expect(error).toMatchObject({ sagaId: A, cause: refused, retryable: true });
        // Counted where the rollback does not undo it; the saga itself did not move.
        expect(memory.saga(A)).toMatchObject({
          status: 'HOLDING',
          version: 2,
          failedAttempts: attempt,
          lastError: 'warehouse says no',
        });
      }
      expect(memory.outbox).toEqual([]);

      // The last allowed attempt: everything else is carried out, and the saga parked.
      const parked = await apply(A, { type: 'Cancel' }, 'in-cancel');
      expect(parked).toEqual({
        status: 'PARKED',
        emitted: [
          expect.objectContaining({
            type: 'OrderCancelled',
            data: { orderId: A, reason: 'payment_declined' },
            causationId: 'in-cancel',
          }),
        ],
      });
      const unhold = { kind: 'Unhold', orderId: A, compensation: true };
      expect(memory.saga(A)).toMatchObject({
        status: 'PARKED',
        version: 3,
        failedAttempts: 3,
        lastError: 'warehouse says no',
        state: { status: 'PARKED', owed: [unhold] },
      });
      expect(memory.history(A).at(-1)).toEqual({
        version: 3,
        from: 'HOLDING',
        to: 'PARKED',
        cause: 'Cancel',
        note: 'compensation failed 3 times: warehouse says no; owed: Unhold',
        emitted: [memory.outbox[0]?.id],
        causationId: 'in-cancel',
      });
      // The decision's other intent, then the parking's; never the failing compensation.
      expect(memory.carriedOut).toEqual([
        { kind: 'Notify', orderId: A },
        { kind: 'Notify', orderId: A },
        { kind: 'Alert', orderId: A },
      ]);
      expect(memory.outbox.map((event) => event.type)).toEqual(['OrderCancelled']);
      expect(log.lines).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: 'saga parked: a compensation keeps failing',
          fields: expect.objectContaining({ sagaId: A, failures: 3, owed: ['Unhold'] }),
        }),
      );
    });

    it('parks at once when one attempt is all that is allowed', async () => {
      const { start, apply, memory } = setup({ compensate: refusing, maxCompensationAttempts: 1 });
      await start(A);
      expect(await apply(A, { type: 'Cancel' }, 'in-cancel')).toMatchObject({ status: 'PARKED' });
      expect(memory.saga(A)).toMatchObject({ status: 'PARKED', failedAttempts: 1 });
    });

    it('starts counting again once the saga moves', async () => {
      let failures = 1;
      const { start, apply, memory } = setup({
        compensate: (intent) => {
          if (intent.kind === 'Unhold' && failures-- > 0) throw refused;
        },
      });
      await start(A);
      await expect(apply(A, { type: 'Cancel' }, 'in-cancel')).rejects.toBeInstanceOf(
        CompensationRetryError,
      );
      expect(memory.saga(A)?.failedAttempts).toBe(1);

      expect(await apply(A, { type: 'Cancel' }, 'in-cancel')).toMatchObject({
        status: 'CANCELLED',
      });
      expect(memory.saga(A)).toMatchObject({ failedAttempts: 0, lastError: null });
      expect(memory.carriedOut.map((intent) => intent.kind)).toEqual([
        'Notify',
        'Unhold',
        'Notify',
      ]);
    });

    it('is retried without being counted when it fails transiently, even on the last attempt', async () => {
      let failure: Error = new Transient('connection reset');
      const { start, apply, memory } = setup({
        compensate: (intent) => {
          if (intent.kind === 'Unhold') throw failure;
        },
      });
      await start(A);

      await expect(apply(A, { type: 'Cancel' }, 'in-cancel')).rejects.toBe(failure);
      expect(memory.saga(A)).toMatchObject({ status: 'HOLDING', failedAttempts: 0 });

      // Two counted failures: the next attempt is the last allowed one.
      failure = refused;
      for (let attempt = 0; attempt < 2; attempt++) {
        await expect(apply(A, { type: 'Cancel' }, 'in-cancel')).rejects.toBeInstanceOf(
          CompensationRetryError,
        );
      }
      failure = new Transient('connection reset');
      await expect(apply(A, { type: 'Cancel' }, 'in-cancel')).rejects.toBe(failure);
      expect(memory.saga(A)).toMatchObject({ status: 'HOLDING', version: 2, failedAttempts: 2 });
      expect(memory.carriedOut).toHaveLength(1);
    });
  });

  describe('wakeDue', () => {
    it('wakes due sagas in deadline order, skipping one that moved and going on past one that fails', async () => {
      const compensated: string[] = [];
      const h = setup({
        compensate: (intent) => {
          compensated.push(intent.orderId);
          if (intent.orderId === E) throw new Error('stuck');
        },
      });
      // Started out of order: deadlines D < B = C (B first by id) < E < A; F not due.
      const F = '00000000-0000-4000-8000-00000000000f';
      for (const [id, startedAt] of [
        [A, 300],
        [C, 100],
        [E, 200],
        [B, 100],
        [D, 0],
        [F, 10_000],
      ] as const) {
        h.time.now = at(startedAt);
        await h.start(id);
      }
      h.time.now = at(5_000);
      const listed: string[][] = [];
      const due = h.memory.store.due;
      h.memory.store.due = async (cutoff, after, limit) => {
        const sagas = await due(cutoff, after, limit);
        listed.push(sagas.map((saga) => saga.id));
        return sagas;
      };

      const published: Envelope[][] = [];
      const result = await h.engine.wakeDue({
        log: h.log,
        batchSize: 3,
        committed: async (events) => {
          published.push(events);
          // A late event moves C after it was listed as due, before its turn.
          if (published.length === 2) await h.apply(C, { type: 'Confirm' }, 'in-late');
        },
      });

      expect(result).toEqual({ woken: 3, failed: 1 });
      expect(listed).toEqual([
        [D, B, C],
        [E, A],
      ]);
      // D, B, (C moved: left alone), (E fails), A.
      expect(compensated).toEqual([D, B, E, A]);
      expect(published.map((events) => events.map((event) => event.subject))).toEqual([
        [D],
        [B],
        [A],
      ]);
      for (const events of published) {
        expect(events).toEqual([
          expect.objectContaining({
            type: 'OrderCancelled',
            data: expect.objectContaining({ reason: 'payment_timeout' }),
            causationId: null,
            correlationId,
            occurredAt: at(5_000).toISOString(),
          }),
        ]);
      }
      expect(h.memory.history(D).at(-1)).toMatchObject({
        from: 'HOLDING',
        to: 'CANCELLED',
        cause: 'DeadlinePassed',
        causationId: null,
      });
      expect(h.memory.saga(C)).toMatchObject({ status: 'DONE', version: 3 });
      expect(h.memory.history(C).at(-1)).toMatchObject({ cause: 'Confirm' });
      expect(h.memory.saga(E)).toMatchObject({ status: 'HOLDING', failedAttempts: 1 });
      expect(h.memory.saga(F)).toMatchObject({ status: 'HOLDING', deadlineAt: at(11_000) });
      expect(h.log.lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'saga deadline failed; the next run tries again',
          fields: expect.objectContaining({ sagaId: E, correlationId }),
        }),
      );

      // The next run finds only the one that failed.
      compensated.length = 0;
      expect(await h.engine.wakeDue({ log: h.log, committed: async () => {} })).toEqual({
        woken: 0,
        failed: 1,
      });
      expect(compensated).toEqual([E]);
    });

    it('lets `within` see a waking that failed (its span ends in error) and still goes on', async () => {
      const h = setup({
        compensate: (intent) => {
          if (intent.orderId === E) throw new Error('stuck');
        },
      });
      for (const id of [A, E]) await h.start(id);
      h.time.now = at(5_000);
      const outcomes: [string, string][] = [];
      const result = await h.engine.wakeDue({
        log: h.log,
        committed: async () => {},
        within: async (saga, work) => {
          try {
            await work({});
            outcomes.push([saga.id, 'ok']);
          } catch (error) {
            outcomes.push([saga.id, 'failed']);
            throw error;
          }
        },
      });
      expect(result).toEqual({ woken: 1, failed: 1 });
      expect(outcomes).toEqual([
        [A, 'ok'],
        [E, 'failed'],
      ]);
    });

    it('forgets a deadline whose input is ignored, so that it is not woken every run', async () => {
      const { start, apply, engine, memory, log, time } = setup();
      await start(A);
      await apply(A, { type: 'Wait' }, 'in-wait');
      expect(memory.saga(A)).toMatchObject({ status: 'WAITING', deadlineAt: at(holdMs) });
      time.now = at(5_000);

      const committed = async () => {};
      expect(await engine.wakeDue({ log, committed })).toEqual({ woken: 0, failed: 0 });
      expect(memory.saga(A)).toMatchObject({ status: 'WAITING', version: 3, deadlineAt: null });
      expect(memory.history(A)).toHaveLength(3);
      expect(log.lines).toContainEqual(
        expect.objectContaining({
          message: 'saga input ignored',
          fields: expect.objectContaining({ input: 'DeadlinePassed' }),
        }),
      );
      expect(await memory.store.due(at(5_000), undefined, 10)).toEqual([]);
    });

    it('keeps the deadline when another input is ignored', async () => {
      const { start, apply, memory } = setup();
      await start(A);
      expect(await apply(A, { type: 'Start', orderId: A, correlationId }, 'in-2')).toBeUndefined();
      expect(memory.saga(A)?.deadlineAt).toEqual(at(holdMs));
    });

    it('wakes nothing when nothing is due', async () => {
      const { start, engine, log } = setup();
      await start(A);
      expect(await engine.wakeDue({ log, committed: async () => {} })).toEqual({
        woken: 0,
        failed: 0,
      });
    });
  });

  describe('definition versions', () => {
    const v2 = { status: 'HOLDING', orderId: A, correlationId, holds: 3 };
    const { holds: _holds, ...v1 } = v2;

    it('leaves a saga saved by a newer version to a newer deployment (retried)', async () => {
      const { apply, memory } = setup();
      memory.put(savedSaga(3, v2));
      const newer = apply(A, { type: 'Confirm' }, 'in-1');
      await expect(newer).rejects.toBeInstanceOf(SagaNotReadyError);
      await expect(newer).rejects.toMatchObject({ retryable: true });
      await expect(newer).rejects.toThrow(/saved by version 3 of the toy saga; this is version 2/);
      expect(memory.saga(A)).toMatchObject({ status: 'HOLDING', version: 2, definitionVersion: 3 });
    });

    it('rejects a saga saved by an older version when there is no upgrade from it', async () => {
      const { upgrade: _upgrade, ...withoutUpgrade } = toy;
      const { apply, memory } = setup({ definition: withoutUpgrade });
      memory.put(savedSaga(1, v1));
      await expect(apply(A, { type: 'Confirm' }, 'in-1')).rejects.toThrow(
        new SagaInputRejectedError(
          `saga ${A} (saved by version 1 of the toy saga) cannot be read: version 2 declares no upgrade from it`,
        ),
      );
      expect(memory.saga(A)).toMatchObject({ version: 2, definitionVersion: 1, state: v1 });
    });

    it('decides on the upgraded state of a saga saved by an older version, and saves it as its own', async () => {
      const upgrades: number[] = [];
      const { apply, memory } = setup({
        definition: {
          ...toy,
          upgrade: (saved, fromVersion) => {
            upgrades.push(fromVersion);
            return toy.upgrade!(saved, fromVersion);
          },
        },
      });
      memory.put(savedSaga(1, v1));

      expect(await apply(A, { type: 'Confirm' }, 'in-1')).toMatchObject({ status: 'DONE' });
      expect(upgrades).toEqual([1]);
      expect(memory.saga(A)).toMatchObject({
        status: 'DONE',
        version: 3,
        definitionVersion: 2,
        state: { ...v1, status: 'DONE', holds: 1 },
      });
      expect(memory.history(A).at(-1)).toMatchObject({ note: 'held 1 time(s)' });
      expect(memory.outbox[0]?.data).toEqual({ orderId: A, totalMinor: 100, currency: 'EUR' });
    });

    it('rejects a saga whose upgrade fails', async () => {
      const { apply, memory } = setup();
      memory.put(savedSaga(1, { ...v1, status: 'SHIPPED' }));
      await expect(apply(A, { type: 'Confirm' }, 'in-1')).rejects.toThrow(
        new SagaInputRejectedError(
          `saga ${A} (saved by version 1 of the toy saga) cannot be read: unknown status SHIPPED`,
        ),
      );
    });

    it('rejects a saga whose saved state this version cannot parse', async () => {
      const { apply, memory } = setup();
      memory.put(savedSaga(2, v1));
      await expect(apply(A, { type: 'Confirm' }, 'in-1')).rejects.toThrow(
        new SagaInputRejectedError(
          `saga ${A} (saved by version 2 of the toy saga) cannot be read: no holds count`,
        ),
      );
      expect(memory.saga(A)).toMatchObject({ version: 2, state: v1 });
    });

    it('reads a saga saved by its own version', async () => {
      const { apply, memory } = setup();
      memory.put(savedSaga(2, v2));
      expect(await apply(A, { type: 'Confirm' }, 'in-1')).toMatchObject({ status: 'DONE' });
      expect(memory.outbox[0]?.data).toMatchObject({ totalMinor: 300 });
    });
  });
});
