import type { Database } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { type Outbox, outboxInsert } from '@orders/idempotency';
import { isRetryable, type Logger, UnprocessableEventError } from '@orders/runtime';
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

type Transition = {
  from: string;
  to: string;
  cause: string;
  note?: string | undefined;
  /** The ids of the events this transition emitted: the history shows what each step sent. */
  emitted: string[];
};

/** What one input decided, as carried out so far in the transaction. */
interface Applied<State, Command> {
  state: State | undefined;
  deadlineAt: Date | null;
  transitions: Transition[];
  emitted: DomainEvent[];
  /** Compensations that failed for good and were left out (tolerant runs only). */
  failed: Command[];
  failures: unknown[];
  /** The deadline input was ignored: it is news that no longer matters. */
  deadlineIgnored: boolean;
}

/**
 * Runs a saga definition against PostgreSQL, inside the caller's transaction (the one that
 * holds the inbox claim and the outbox rows). Time is the database's (`now()` of the
 * transaction), never this process's: deadlines are set by one function and compared by
 * another.
 * 1. load the saga (optimistically, by version) and the database's clock, in one query;
 * 2. decide, refusing an illegal transition; carry out the commands in order, feeding an
 *    effect's answer back as the next input (reserve stock -> StockReserved -> ...);
 * 3. save the state with version + 1 and a history row per decision; a concurrent change
 *    fails the whole transaction as retryable.
 * A compensation that fails transiently is retried (the input fails as retryable) and not
 * counted. One that fails otherwise is counted (outside the transaction, which rolls back);
 * after maxCompensationAttempts the decision is carried out without it and the saga parked,
 * owing it (see SagaDefinition.park). A saga that moves resets its count.
 */
export function createSagaEngine<
  State extends { status: string },
  Input extends { type: string },
  Command extends AnyCommand,
>(options: SagaEngineOptions<State, Input, Command>) {
  const { definition, effects, db, maxCompensationAttempts } = options;

  async function load(
    trx: Kysely<Database>,
    id: string,
  ): Promise<{ now: Date; saved: SagaRow<State> | undefined }> {
    const { rows } = await sql<{
      now: Date;
      id: string | null;
      status: string;
      version: number;
      state: State;
      deadline_at: Date | null;
      correlation_id: string;
      failed_attempts: number;
    }>`
      select now() as now, s.id, s.status, s.version, s.state, s.deadline_at, s.correlation_id,
        s.failed_attempts
      from (select) as clock
      left join sagas s on s.id = ${id}::uuid and s.type = ${definition.type}`.execute(trx);
    const row = rows[0]!;
    return {
      now: row.now,
      saved:
        row.id === null
          ? undefined
          : {
              id: row.id,
              status: row.status,
              version: row.version,
              state: row.state,
              deadlineAt: row.deadline_at,
              correlationId: row.correlation_id,
              failedAttempts: row.failed_attempts,
            },
    };
  }

  /**
   * Saves the saga row (insert, or update at the expected version), its transitions and the
   * `included` writes in one statement: when the row is not written (a concurrent change),
   * no transition is either, and the caller's transaction fails as retryable (and rolls the
   * included writes back with it). A saga that moved starts its failure count again, unless
   * it was parked (`lastError` is then why).
   */
  async function saveSaga(
    trx: Kysely<Database>,
    id: string,
    saved: SagaRow<State> | undefined,
    next: { state: State; deadlineAt: Date | null; correlationId: string },
    transitions: Transition[],
    causationId: string | null,
    included: readonly RawBuilder<unknown>[],
    parked: { failedAttempts: number; lastError: string } | undefined,
  ): Promise<number> {
    const base = saved?.version ?? 0;
    const version = base + transitions.length;
    const state = JSON.stringify(next.state);
    const status = next.state.status;
    const failedAttempts = parked?.failedAttempts ?? 0;
    const lastError = parked?.lastError ?? null;
    const written = saved
      ? sql`
          update sagas set status = ${status}, version = ${version}, state = ${state}::jsonb,
            deadline_at = ${next.deadlineAt}::timestamptz, updated_at = now(),
            failed_attempts = ${failedAttempts}, last_error = ${lastError}
          where id = ${id}::uuid and version = ${saved.version}
          returning id`
      : sql`
          insert into sagas (id, type, status, version, state, deadline_at, correlation_id, updated_at)
          values (${id}::uuid, ${definition.type}, ${status}, ${version}, ${state}::jsonb,
            ${next.deadlineAt}::timestamptz, ${next.correlationId}::uuid, now())
          on conflict (id) do nothing
          returning id`;
    const rows = sql.join(
      transitions.map(
        (transition, index) =>
          sql`(${base + 1 + index}::int, ${transition.from}::text, ${transition.to}::text, ${transition.cause}::text, ${transition.note ?? null}::text, ${transition.emitted}::uuid[])`,
      ),
    );
    // Data-modifying WITH queries run to completion whether read or not.
    const alongside = included.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write}), `);
    const { rows: inserted } = await sql<{ version: number }>`
      with ${sql.join(alongside, sql``)} saved as (${written})
      insert into saga_transitions
        (saga_id, version, from_status, to_status, cause_type, cause_event_id, note, emitted_event_ids)
      select saved.id, t.version, t.from_status, t.to_status, t.cause_type, ${causationId}::uuid,
        t.note, t.emitted
      from saved, (values ${rows}) as t (version, from_status, to_status, cause_type, note, emitted)
      returning version
    `.execute(trx);
    if (inserted.length !== transitions.length) throw new SagaConflictError(id);
    return version;
  }

  type Effect = (trx: Kysely<Database>, command: Command, save: SagaSave) => Promise<unknown>;
  const effectOf = (command: Command) => effects[command.kind as keyof typeof effects] as Effect;

  /**
   * Decides and carries out `input` (and the inputs its effects answer with). Strict: a
   * compensation that fails throws CompensationFailed. Tolerant: one that fails for good is
   * left out (each runs under a savepoint of its own) and reported in `failed`.
   */
  async function decideAndCarryOut(
    trx: Kysely<Database>,
    id: string,
    saved: SagaRow<State> | undefined,
    input: Input,
    { now, causationId, log }: { now: Date; causationId: string | null; log: Logger },
    save: SagaSave,
    tolerant: boolean,
  ): Promise<Applied<State, Command>> {
    const applied: Applied<State, Command> = {
      state: saved?.state,
      deadlineAt: saved?.deadlineAt ?? null,
      transitions: [],
      emitted: [],
      failed: [],
      failures: [],
      deadlineIgnored: false,
    };
    let next: Input | undefined = input;
    for (let step = 0; next && step < 10; step++) {
      const current: Input = next;
      next = undefined;
      const emittedBefore = applied.emitted.length;
      const outcome = definition.decide(applied.state, current, { now, causationId });
      if (outcome.kind === 'ignore') {
        log.info('saga input ignored', { sagaId: id, input: current.type, note: outcome.note });
        applied.deadlineIgnored = step === 0 && current === definition.deadlinePassed;
        break;
      }
      if (outcome.kind === 'reject') throw new UnprocessableEventError(outcome.reason);
      if (outcome.kind === 'retry-later') throw new SagaNotReadyError(id, outcome.reason);

      const from = applied.state?.status ?? NEW;
      if (!isLegalTransition(definition.transitions, from, outcome.state.status)) {
        throw new UnprocessableEventError(
          `illegal transition of saga ${id} from ${from} to ${outcome.state.status} on ${current.type}`,
        );
      }
      for (const command of outcome.commands) {
        if (command.kind === 'emit') {
          applied.emitted.push((command as { event: DomainEvent }).event);
        } else if (!isCompensation(command)) {
          next = ((await effectOf(command)(trx, command, save)) as Input | undefined) ?? next;
        } else if (!tolerant) {
          try {
            next = ((await effectOf(command)(trx, command, save)) as Input | undefined) ?? next;
          } catch (error) {
            throw new CompensationFailed(error);
          }
        } else {
          await sql`savepoint saga_compensation`.execute(trx);
          try {
            next = ((await effectOf(command)(trx, command, save)) as Input | undefined) ?? next;
            await sql`release savepoint saga_compensation`.execute(trx);
          } catch (error) {
            if (isRetryable(error)) throw error;
            await sql`rollback to savepoint saga_compensation`.execute(trx);
            applied.failed.push(command);
            applied.failures.push(error);
          }
        }
      }
      applied.transitions.push({
        from,
        to: outcome.state.status,
        cause: current.type,
        note: outcome.note,
        emitted: applied.emitted.slice(emittedBefore).map((event) => event.id),
      });
      applied.state = outcome.state;
      applied.deadlineAt = outcome.deadlineAt;
    }
    return applied;
  }

  /**
   * Applies `input` to saga `id` in `trx`. Returns the status it ends in, or undefined when
   * the input changed nothing.
   * @throws UnprocessableEventError for an input the saga rejects (dead-letter it)
   * @throws SagaNotReadyError, SagaConflictError, CompensationRetryError, or a failing effect
   *   (retry later)
   */
  async function apply(trx: Kysely<Database>, id: string, input: Input, context: ApplyContext) {
    const { now, saved } = await load(trx, id);
    if (context.expectedVersion !== undefined && saved?.version !== context.expectedVersion) {
      return undefined;
    }
    const correlationId =
      saved?.correlationId ?? (input as { correlationId?: string }).correlationId;
    const included = new Map<string, RawBuilder<unknown>>();
    const save: SagaSave = {
      include(key, write) {
        included.delete(key);
        included.set(key, write);
      },
    };
    const decideContext = { now, causationId: context.causationId, log: context.log };

    // Everything this input does can be undone, so that a compensation that keeps failing
    // can be left out in this same transaction. Only a saved saga has compensations to run:
    // a new one needs no savepoint, and saves the round trip.
    if (saved) await sql`savepoint saga_input`.execute(trx);
    let applied: Applied<State, Command>;
    let parked: { failedAttempts: number; lastError: string } | undefined;
    try {
      applied = await decideAndCarryOut(trx, id, saved, input, decideContext, save, false);
    } catch (error) {
      if (!(error instanceof CompensationFailed) || !saved) throw error;
      // A transient failure is retried, and says nothing about the compensation itself.
      if (isRetryable(error.cause)) throw error.cause;
      // Count the failure where it survives this transaction's rollback.
      const failures = await countFailure(id, error.cause);
      if (failures < maxCompensationAttempts) throw new CompensationRetryError(id, error.cause);
      await sql`rollback to savepoint saga_input`.execute(trx);
      included.clear();
      applied = await decideAndCarryOut(trx, id, saved, input, decideContext, save, true);
      if (applied.failed.length > 0 && applied.state) {
        const reason = `compensation failed ${failures} times: ${messageOf(applied.failures[0])}`;
        const owed = definition.park(applied.state, applied.failed);
        for (const command of owed.commands) {
          if (command.kind === 'emit')
            applied.emitted.push((command as { event: DomainEvent }).event);
          else await effectOf(command)(trx, command, save);
        }
        context.log.error('saga parked: a compensation keeps failing', {
          sagaId: id,
          failures,
          owed: applied.failed.map((command) => command.kind),
          error: applied.failures[0],
        });
        applied.transitions = [
          {
            from: saved.status,
            to: owed.state.status,
            cause: input.type,
            note: `${reason}; owed: ${applied.failed.map((command) => command.kind).join(', ')}`,
            emitted: applied.emitted.map((event) => event.id),
          },
        ];
        applied.state = owed.state;
        parked = { failedAttempts: failures, lastError: messageOf(applied.failures[0]) };
      }
    }

    const { state, deadlineAt, transitions, emitted } = applied;
    if (transitions.length === 0 || !state || !correlationId) {
      if (applied.deadlineIgnored && saved?.deadlineAt) await clearDeadline(trx, saved);
      return undefined;
    }
    if (emitted.length > 0) save.include('outbox', context.emitting(...emitted));
    await saveSaga(
      trx,
      id,
      saved,
      { state, deadlineAt, correlationId },
      transitions,
      context.causationId,
      [...included.values()],
      parked,
    );
    return state.status;
  }

  /** A deadline that no longer matters is forgotten, or the saga would be woken every tick. */
  async function clearDeadline(trx: Kysely<Database>, saved: SagaRow<State>) {
    await sql`
      update sagas set deadline_at = null
      where id = ${saved.id}::uuid and version = ${saved.version}`.execute(trx);
  }

  return {
    definition,
    apply,

    /**
     * Wakes every saga whose deadline had passed when the run began (by the database's
     * clock), oldest first, each in its own transaction with its emitted events published
     * after commit. A saga that fails is logged and left for the next run; the others go on.
     * Safe to run concurrently: a saga that moved meanwhile (another sweeper, a late event)
     * is left alone. Returns how many moved and how many failed.
     */
    async wakeDue({
      outbox,
      log,
      batchSize = 100,
    }: {
      outbox: Outbox;
      log: Logger;
      batchSize?: number;
    }): Promise<{ woken: number; failed: number }> {
      const { rows: clock } = await sql<{ cutoff: Date }>`select now() as cutoff`.execute(db);
      const cutoff = clock[0]!.cutoff;
      let woken = 0;
      let failed = 0;
      // Keyset on the deadline to the millisecond (what a JS Date holds) and the id, so that
      // a saga that failed is not met again in this run.
      let after: { deadlineAt: Date; id: string } | undefined;
      for (;;) {
        const { rows: due } = await sql<{
          id: string;
          version: number;
          correlation_id: string;
          deadline_ms: Date;
        }>`
          select id, version, correlation_id, date_trunc('milliseconds', deadline_at) as deadline_ms
          from sagas
          where type = ${definition.type} and deadline_at <= ${cutoff}::timestamptz
            ${after ? sql`and (date_trunc('milliseconds', deadline_at), id) > (${after.deadlineAt}::timestamptz, ${after.id}::uuid)` : sql``}
          order by date_trunc('milliseconds', deadline_at), id
          limit ${batchSize}`.execute(db);
        for (const saga of due) {
          const sagaLog = log.child({ correlationId: saga.correlation_id, sagaId: saga.id });
          try {
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
              woken++;
              sagaLog.info('saga deadline passed', { status });
              await outbox.publishCommitted(emitted);
            }
          } catch (error) {
            failed++;
            sagaLog[isRetryable(error) ? 'warn' : 'error'](
              'saga deadline failed; the next run tries again',
              { error },
            );
          }
        }
        if (due.length < batchSize) return { woken, failed };
        const last = due[due.length - 1]!;
        after = { deadlineAt: last.deadline_ms, id: last.id };
      }
    },

    load: async (id: string) => (await load(db, id)).saved,
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

function isCompensation(command: AnyCommand): boolean {
  return 'compensation' in command && command.compensation === true;
}

class CompensationFailed extends Error {
  override readonly name = 'CompensationFailed';
  constructor(override readonly cause: unknown) {
    super('compensation failed', { cause });
  }
}

/** A compensation failed and was counted; the input is retried until the saga is parked. */
class CompensationRetryError extends Error {
  override readonly name = 'CompensationRetryError';
  readonly retryable = true;
  constructor(
    readonly sagaId: string,
    override readonly cause: unknown,
  ) {
    super(`saga ${sagaId}: a compensation failed (${messageOf(cause)}); retried`, { cause });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
