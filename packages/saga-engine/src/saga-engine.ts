import type { Database } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { type Outbox, outboxInsert } from '@orders/idempotency';
import { type Logger, UnprocessableEventError } from '@orders/runtime';
import { isLegalTransition, NEW, type SagaDefinition } from '@orders/sagas';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { SagaConflictError, SagaNotReadyError } from './saga-errors';

type AnyCommand = { kind: string; compensation?: true } | { kind: 'emit'; event: DomainEvent };

/**
 * Writes whose outcome the saga does not read go in the statement that saves the saga row, a
 * round trip less each. Keyed: a later write under the same key replaces an earlier one (two
 * updates of one row cannot share a statement), so give each row its own key.
 */
export interface SagaSave {
  include(key: string, write: RawBuilder<unknown>): void;
}

/**
 * Carries out one kind of command in the saga's transaction; may answer with a new input.
 * A write whose outcome it does not need can go with the saga's save instead (`save.include`).
 */
export type Effects<Input, Command extends { kind: string }> = {
  [K in Exclude<Command['kind'], 'emit'>]: (
    trx: Kysely<Database>,
    command: Extract<Command, { kind: K }>,
    save: SagaSave,
  ) => Promise<Input | undefined>;
};

export interface SagaEngineOptions<
  State extends { status: string },
  Input,
  Command extends AnyCommand,
> {
  definition: SagaDefinition<State, Input, Command>;
  effects: Effects<Input, Command>;
  /** For the attempt counter, written outside the failing transaction. */
  db: Kysely<Database>;
  /** Failures of a compensation before the saga is parked (see SagaDefinition.park). */
  maxCompensationAttempts: number;
  now?: () => Date;
}

export interface ApplyContext {
  /**
   * The outbox insert of emitted events (at least one), which the engine runs in the
   * statement that saves the saga; the caller publishes them after commit.
   */
  emitting(...events: DomainEvent[]): RawBuilder<unknown>;
  log: Logger;
  /** The event behind the input; null for a deadline. */
  causationId: string | null;
  /** Only apply when the saga is at this version (deadlines: someone else may have moved it). */
  expectedVersion?: number;
}

export interface SagaRow<State> {
  id: string;
  status: string;
  version: number;
  state: State;
  deadlineAt: Date | null;
  correlationId: string;
  failedAttempts: number;
}

/**
 * Runs a saga definition against PostgreSQL, inside the caller's transaction (the one that
 * holds the inbox claim and the outbox rows):
 * 1. load the saga (optimistically, by version);
 * 2. decide, refusing an illegal transition; carry out the commands in order, feeding an
 *    effect's answer back as the next input (reserve stock -> StockReserved -> ...);
 * 3. save the state with version + 1 and a history row per decision; a concurrent change
 *    fails the whole transaction as retryable.
 * A compensation that fails is counted (outside the transaction, which rolls back); after
 * maxCompensationAttempts the saga is parked instead, and the input acked.
 */
export function createSagaEngine<
  State extends { status: string },
  Input extends { type: string },
  Command extends AnyCommand,
>(options: SagaEngineOptions<State, Input, Command>) {
  const { definition, effects, db, maxCompensationAttempts } = options;
  const now = options.now ?? (() => new Date());

  async function load(trx: Kysely<Database>, id: string): Promise<SagaRow<State> | undefined> {
    const row = await trx
      .selectFrom('sagas')
      .selectAll()
      .where('id', '=', id)
      .where('type', '=', definition.type)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      status: row.status,
      version: row.version,
      state: row.state as unknown as State,
      deadlineAt: row.deadline_at,
      correlationId: row.correlation_id,
      failedAttempts: row.failed_attempts,
    };
  }

  /**
   * Saves the saga row (insert, or update at the expected version), its transitions and the
   * `included` writes in one statement: when the row is not written (a concurrent change),
   * no transition is either, and the caller's transaction fails as retryable (and rolls the
   * included writes back with it).
   */
  async function saveSaga(
    trx: Kysely<Database>,
    id: string,
    saved: SagaRow<State> | undefined,
    next: { state: State; deadlineAt: Date | null; correlationId: string },
    transitions: { from: string; to: string; cause: string; note?: string | undefined }[],
    causationId: string | null,
    included: readonly RawBuilder<unknown>[],
  ): Promise<number> {
    const base = saved?.version ?? 0;
    const version = base + transitions.length;
    const state = JSON.stringify(next.state);
    const status = next.state.status;
    const written = saved
      ? sql`
          update sagas set status = ${status}, version = ${version}, state = ${state}::jsonb,
            deadline_at = ${next.deadlineAt}::timestamptz, updated_at = ${now()}::timestamptz
          where id = ${id}::uuid and version = ${saved.version}
          returning id`
      : sql`
          insert into sagas (id, type, status, version, state, deadline_at, correlation_id, updated_at)
          values (${id}::uuid, ${definition.type}, ${status}, ${version}, ${state}::jsonb,
            ${next.deadlineAt}::timestamptz, ${next.correlationId}::uuid, ${now()}::timestamptz)
          on conflict (id) do nothing
          returning id`;
    const rows = sql.join(
      transitions.map(
        (transition, index) =>
          sql`(${base + 1 + index}::int, ${transition.from}::text, ${transition.to}::text, ${transition.cause}::text, ${transition.note ?? null}::text)`,
      ),
    );
    // Data-modifying WITH queries run to completion whether read or not.
    const alongside = included.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write}), `);
    const { rows: inserted } = await sql<{ version: number }>`
      with ${sql.join(alongside, sql``)} saved as (${written})
      insert into saga_transitions
        (saga_id, version, from_status, to_status, cause_type, cause_event_id, note)
      select saved.id, t.version, t.from_status, t.to_status, t.cause_type, ${causationId}::uuid, t.note
      from saved, (values ${rows}) as t (version, from_status, to_status, cause_type, note)
      returning version
    `.execute(trx);
    if (inserted.length !== transitions.length) throw new SagaConflictError(id);
    return version;
  }

  async function run(
    trx: Kysely<Database>,
    command: Exclude<Command, { kind: 'emit' }>,
    save: SagaSave,
  ): Promise<Input | undefined> {
    const effect = effects[command.kind as keyof typeof effects] as (
      trx: Kysely<Database>,
      command: Command,
      save: SagaSave,
    ) => Promise<Input | undefined>;
    if (!command.compensation) return effect(trx, command, save);
    try {
      return await effect(trx, command, save);
    } catch (error) {
      throw new CompensationFailed(error);
    }
  }

  /**
   * Applies `input` to saga `id` in `trx`. Returns the status it ends in, or undefined when
   * the input changed nothing.
   * @throws UnprocessableEventError for an input the saga rejects (dead-letter it)
   * @throws SagaNotReadyError, SagaConflictError, or a failing effect (retry later)
   */
  async function apply(trx: Kysely<Database>, id: string, input: Input, context: ApplyContext) {
    const saved = await load(trx, id);
    if (context.expectedVersion !== undefined && saved?.version !== context.expectedVersion) {
      return undefined;
    }
    let state = saved?.state;
    let deadlineAt = saved?.deadlineAt ?? null;
    const correlationId =
      saved?.correlationId ?? (input as { correlationId?: string }).correlationId;
    const transitions: { from: string; to: string; cause: string; note?: string | undefined }[] =
      [];
    const emitted: DomainEvent[] = [];
    const included = new Map<string, RawBuilder<unknown>>();
    const save: SagaSave = {
      include(key, write) {
        included.delete(key);
        included.set(key, write);
      },
    };
    let next: Input | undefined = input;

    // Everything this input does can be undone, so that a failed compensation can still
    // park the saga in this same transaction. Only a saved saga is ever parked (see the
    // catch below): a new one needs no savepoint, and saves the round trip.
    if (saved) await sql`savepoint saga_input`.execute(trx);
    try {
      for (let step = 0; next && step < 10; step++) {
        const current: Input = next;
        next = undefined;
        const outcome = definition.decide(state, current, {
          now: now(),
          causationId: context.causationId,
        });
        if (outcome.kind === 'ignore') {
          context.log.info('saga input ignored', {
            sagaId: id,
            input: current.type,
            note: outcome.note,
          });
          break;
        }
        if (outcome.kind === 'reject') throw new UnprocessableEventError(outcome.reason);
        if (outcome.kind === 'retry-later') throw new SagaNotReadyError(id, outcome.reason);

        const from = state?.status ?? NEW;
        if (!isLegalTransition(definition.transitions, from, outcome.state.status)) {
          throw new UnprocessableEventError(
            `illegal transition of saga ${id} from ${from} to ${outcome.state.status} on ${current.type}`,
          );
        }
        for (const command of outcome.commands) {
          if (command.kind === 'emit') emitted.push((command as { event: DomainEvent }).event);
          else next = (await run(trx, command as Exclude<Command, { kind: 'emit' }>, save)) ?? next;
        }
        transitions.push({
          from,
          to: outcome.state.status,
          cause: current.type,
          note: outcome.note,
        });
        state = outcome.state;
        deadlineAt = outcome.deadlineAt;
      }
    } catch (error) {
      if (!(error instanceof CompensationFailed) || !saved) throw error;
      // Count the failure where it survives this transaction's rollback.
      const failures = await countFailure(id, error.cause);
      if (failures < maxCompensationAttempts) throw error.cause;
      await sql`rollback to savepoint saga_input`.execute(trx);
      // What the failed attempt meant to write with the save goes the way of the rest.
      included.clear();
      emitted.length = 0;
      const parked = definition.park(saved.state, String(error.cause));
      for (const command of parked.commands) {
        if (command.kind === 'emit') emitted.push((command as { event: DomainEvent }).event);
        else await run(trx, command as Exclude<Command, { kind: 'emit' }>, save);
      }
      context.log.error('saga parked: a compensation keeps failing', {
        sagaId: id,
        failures,
        error: error.cause,
      });
      state = parked.state;
      deadlineAt = null;
      transitions.length = 0;
      transitions.push({
        from: saved.status,
        to: parked.state.status,
        cause: input.type,
        note: `compensation failed ${failures} times: ${messageOf(error.cause)}`,
      });
    }

    // No transition, no effect: an effect only runs for a decision, which is a transition.
    if (transitions.length === 0 || !state || !correlationId) return undefined;
    if (emitted.length > 0) save.include('outbox', context.emitting(...emitted));
    await saveSaga(
      trx,
      id,
      saved,
      { state, deadlineAt, correlationId },
      transitions,
      context.causationId,
      [...included.values()],
    );
    return state.status;
  }

  return {
    definition,
    apply,

    /**
     * Wakes the sagas whose deadline has passed, oldest first, each in its own transaction
     * with its emitted events published after commit. Safe to run concurrently: a saga that
     * moved meanwhile (another sweeper, a late event) is left alone. Returns how many moved.
     */
    async wakeDue({ outbox, log, limit = 100 }: { outbox: Outbox; log: Logger; limit?: number }) {
      const due = await db
        .selectFrom('sagas')
        .select(['id', 'version', 'correlation_id'])
        .where('type', '=', definition.type)
        .where('deadline_at', '<=', now())
        .orderBy('deadline_at')
        .limit(limit)
        .execute();
      let moved = 0;
      for (const saga of due) {
        const sagaLog = log.child({ correlationId: saga.correlation_id, sagaId: saga.id });
        const emitted: DomainEvent[] = [];
        const status = await db.transaction().execute((trx) =>
          apply(trx, saga.id, definition.deadlinePassed, {
            causationId: null,
            expectedVersion: saga.version,
            log: sagaLog,
            emitting: (...events) => {
              emitted.push(...events);
              return outboxInsert(events);
            },
          }),
        );
        if (status) {
          moved++;
          sagaLog.info('saga deadline passed', { status });
          await outbox.publishCommitted(emitted);
        }
      }
      return moved;
    },

    load: (id: string) => load(db, id),
  };

  async function countFailure(id: string, error: unknown): Promise<number> {
    const row = await db
      .updateTable('sagas')
      .set((eb) => ({
        failed_attempts: eb('failed_attempts', '+', 1),
        last_error: messageOf(error).slice(0, 1000),
      }))
      .where('id', '=', id)
      .returning('failed_attempts')
      .executeTakeFirst();
    return row?.failed_attempts ?? 1;
  }
}

class CompensationFailed extends Error {
  override readonly name = 'CompensationFailed';
  constructor(override readonly cause: unknown) {
    super('compensation failed', { cause });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
