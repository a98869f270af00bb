import type { Database } from '@orders/db';
import {
  type CopyOutcome,
  decodeEnvelope,
  type Envelope,
  type EventBus,
  type EventCopy,
  InvalidEventError,
  isProducer,
  mayEmit,
  type Producer,
  routedCopies,
  routes,
  routesOf,
  type TopicName,
} from '@orders/events';
import { groupedCalls, messageOf } from '@orders/platform';
import { type Kysely, sql } from 'kysely';
import { activeTraceparent, setTraceparentOf } from './trace-context';

export interface Outbox {
  /**
   * Publishes events whose rows have committed, each copy (event, topic of its routes) on its
   * own, and records what went: an event every route took is marked sent; one that a route
   * refused keeps the routes that took it, and the relay publishes the rest. Only events whose
   * rows this process wrote through `outboxRows` are published, under the relay's rule (see
   * `publishable`): any other is left to the relay, which holds its row to it, and reported
   * to `onPublishError`. Never throws: reports false when anything is left to the relay.
   */
  publishCommitted(events: readonly Envelope[]): Promise<boolean>;
  /**
   * Publishes what rows left unsent still owe (a crash or a refused route after commit),
   * oldest first, each copy on its own: a route that refuses holds back its own copies only,
   * and its rows wait (backing off) while the rows behind them go on. A row that can never be
   * published is set aside. Safe to run concurrently: each batch locks its rows with
   * `FOR UPDATE SKIP LOCKED`. Throws only when the database fails.
   */
  relay(options?: RelayOptions): Promise<RelayReport>;
}

export interface RelayOptions {
  /** Rows younger than this (since their insert) are left to their writer; default 5 s. */
  minAgeMs?: number;
  /** The most rows one run handles (sent, deferred or set aside); default 1,000. */
  maxRows?: number;
  /** Rows per transaction; default 100. */
  batchSize?: number;
  /** The longest a refused row waits before it is tried again; default 5 min. */
  maxBackoffMs?: number;
}

export interface RelayReport {
  /** Rows every route of their type has now taken: marked sent. */
  sent: number;
  /** Copies published. */
  copies: number;
  /** Rows a route refused (or would have: it refused an earlier copy), to be tried again later. */
  deferred: number;
  /** Each topic that refused a copy in this run, and how many rows now wait for it. */
  failingRoutes: FailingRoute[];
  /** Rows set aside in this run: they can never be published. */
  setAside: SetAsideRow[];
}

export interface FailingRoute {
  topic: TopicName;
  /** The HTTP status of the refusal; absent when there was no answer. */
  status?: number;
  error: string;
  /** Unsent rows whose type routes to the topic and that it has not taken. */
  waiting: number;
}

export interface SetAsideRow {
  id: string;
  reason: string;
  /** The producer the row records; absent when it records none. */
  producer?: string;
  type?: string;
  correlationId?: string;
}

export interface OutboxRow {
  id: string;
  /** The envelope, as JSON text. */
  event: string;
  producer: Producer;
  /**
   * The W3C trace context of the work that wrote the row (see `runInTrace`), which its
   * messages carry in `googclient_traceparent`; null outside any.
   */
  traceparent: string | null;
}

/**
 * The producer each event was written by, through `outboxRows`, in this process, and the
 * JSON text its row was written with.
 */
const writtenRows = new WeakMap<Envelope, { producer: Producer; text: string }>();

/**
 * The JSON text `event`'s outbox row was written with in this process, if it was: what its
 * messages carry, encoded once.
 */
export function rowTextOf(event: Envelope): string | undefined {
  return writtenRows.get(event)?.text;
}

/**
 * The values of the outbox rows that carry `events`, written by `producer` (the function
 * whose events they are) in the trace of the work running now: what each store inserts
 * (`outbox (id, event, producer, traceparent)`), in the
 * statement that commits the effects that caused them. Refuses an event `producer` may not
 * emit (see `producers` of @orders/events), which is a bug of its writer.
 */
export function outboxRows(producer: Producer, events: readonly Envelope[]): OutboxRow[] {
  return events.map((event) => {
    if (!mayEmit(producer, event.type)) {
      throw new Error(
        `${producer} may not emit ${event.type} (event ${event.id}): see producers in @orders/events`,
      );
    }
    const traceparent = activeTraceparent() ?? null;
    setTraceparentOf(event, traceparent);
    const text = JSON.stringify(event);
    writtenRows.set(event, { producer, text });
    return { id: event.id, event: text, producer, traceparent };
  });
}

/**
 * The rule every outbox row is published by, after commit and by the relay: it records a
 * producer, its event is a valid envelope of the catalog (as consumers decode it) that names
 * that producer as its source, of a type that producer may emit and that routes somewhere. Answers its copies' topics, or why it
 * may never be published.
 */
export function publishable(
  stored: unknown,
  producer: string | null,
): { topics: readonly TopicName[] } | { refusal: string } {
  if (producer === null) return { refusal: 'no producer recorded' };
  let type: string;
  let source: string;
  try {
    ({ type, source } = decodeEnvelope(stored));
  } catch (error) {
    if (error instanceof InvalidEventError) return { refusal: error.reason };
    throw error;
  }
  if (!isProducer(producer)) return { refusal: `unknown producer ${producer}` };
  if (source !== producer) return { refusal: `${producer} wrote an event of ${source}` };
  if (!mayEmit(producer, type)) return { refusal: `${producer} may not emit ${type}` };
  const topics = routesOf(type) ?? [];
  if (topics.length === 0) return { refusal: `no routes for ${type}` };
  return { topics };
}

/**
 * Makes the relay publish the rows `ids` again, to `topic` only: that route is marked unsent
 * (the others keep what they had: a sent row, all of its routes) and the row is due at once.
 * Set-aside rows are left alone. A sent row is owed again from now (`requeued_at`, which the
 * outbox age gauge reads). Runs in `executor` (a transaction, or the pool); returns the ids of
 * the rows it changed.
 */
export async function resendToTopic(
  executor: Kysely<Database>,
  topic: TopicName,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    update outbox set
      published_topics = array_remove(
        case when sent_at is null then published_topics
          else array(select jsonb_array_elements_text(${JSON.stringify(routes)}::jsonb -> (event->>'type')))
        end,
        ${topic}::text),
      requeued_at = case when sent_at is null then requeued_at else now() end,
      sent_at = null,
      next_attempt_at = null
    where id = any(${ids}::uuid[]) and set_aside_at is null
    returning id`.execute(executor);
  return rows.map((row) => row.id);
}

/**
 * Retention: deletes at most `limit` outbox rows sent more than `olderThanSeconds` ago,
 * oldest first, except the rows `keep` (that may still be published again: a stalled order's
 * OrderPlaced, which a re-drive marks unsent). A row still unsent (the relay owes it) or set
 * aside (an operator's) is never deleted: housekeeping's role may not (migration
 * 0014-retention), and a row marked unsent while this runs is read again and left. The relay
 * only ever publishes rows it finds unsent, so a deleted row is never published again.
 * Returns how many it deleted.
 */
export async function purgeSentRows(
  executor: Kysely<Database>,
  {
    olderThanSeconds,
    limit,
    keep = [],
  }: { olderThanSeconds: number; limit: number; keep?: readonly string[] },
): Promise<number> {
  const cutoff = sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`;
  const result = await sql`
    delete from outbox
    where id in (
        select id from outbox
        where sent_at < ${cutoff} and set_aside_at is null and id <> all(${keep}::uuid[])
        order by sent_at
        limit ${limit})
      and sent_at < ${cutoff} and set_aside_at is null`.execute(executor);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * `onPublishError` hears of each topic that refused copies after commit (with the events it
 * refused), and of a failure to record what went (no topic).
 */
export function createOutbox(
  db: Kysely<Database>,
  bus: EventBus,
  onPublishError: (
    error: unknown,
    events: readonly Envelope[],
    topic?: TopicName,
  ) => void = () => {},
): Outbox {
  // WARNING: the mark commits without waiting for its WAL flush (synchronous_commit off for
  // this statement's transaction only): a mark lost in a server crash only makes the relay
  // publish those events again, and consumers ignore the duplicates (their inbox).
  async function markSent(executor: Kysely<Database>, ids: string[]) {
    await sql`
      with relaxed as (select set_config('synchronous_commit', 'off', true))
      update outbox set sent_at = now()
      from relaxed
      where id = any(${ids}::uuid[]) and sent_at is null`.execute(executor);
  }

  // Rows published by concurrent requests are marked in one statement (one commit) while
  // the previous one runs; each caller still waits for its own rows.
  const markCommittedSent = groupedCalls((ids: string[]) => markSent(db, ids));

  /** Adds the topics that took an event to its row, which the relay then leaves out. */
  async function markPublishedTopics(taken: { id: string; topics: TopicName[] }[]) {
    await sql`
      update outbox o
      set published_topics = array(select distinct unnest(o.published_topics || u.topics))
      from jsonb_to_recordset(${JSON.stringify(taken)}::jsonb) as u (id uuid, topics text[])
      where o.id = u.id and o.sent_at is null`.execute(db);
  }

  async function publishCommitted(written: readonly Envelope[]): Promise<boolean> {
    if (written.length === 0) return true;
    const events: Envelope[] = [];
    for (const event of written) {
      const producer = writtenRows.get(event)?.producer;
      const verdict =
        producer === undefined
          ? { refusal: 'its row was not written through outboxRows in this process' }
          : publishable(event, producer);
      if ('refusal' in verdict) {
        onPublishError(new Error(`not published after commit: ${verdict.refusal}`), [event]);
      } else events.push(event);
    }
    if (events.length === 0) return false;
    try {
      const outcomes = await bus.publish(routedCopies(events));
      const refused = outcomes.filter((outcome) => !outcome.published);
      for (const [topic, failures] of Map.groupBy(refused, (outcome) => outcome.topic)) {
        onPublishError(
          (failures[0] as { error: unknown }).error,
          failures.map((failure) => failure.event),
          topic,
        );
      }
      const refusedIds = new Set(refused.map((outcome) => outcome.event.id));
      const complete = events.filter(
        (event) => !refusedIds.has(event.id) && (routesOf(event.type)?.length ?? 0) > 0,
      );
      const partial = [...Map.groupBy(outcomes, (outcome) => outcome.event.id)]
        .filter(([id]) => refusedIds.has(id))
        .map(([id, copies]) => ({
          id,
          topics: copies.filter((copy) => copy.published).map((copy) => copy.topic),
        }))
        .filter((taken) => taken.topics.length > 0);
      await Promise.all([
        complete.length > 0 ? markCommittedSent(complete.map((event) => event.id)) : undefined,
        partial.length > 0 ? markPublishedTopics(partial) : undefined,
      ]);
      return complete.length === written.length;
    } catch (error) {
      onPublishError(error, events);
      return false;
    }
  }

  async function relay({
    minAgeMs = 5_000,
    maxRows = 1_000,
    batchSize = 100,
    maxBackoffMs = 300_000,
  }: RelayOptions = {}): Promise<RelayReport> {
    const report: RelayReport = {
      sent: 0,
      copies: 0,
      deferred: 0,
      failingRoutes: [],
      setAside: [],
    };
    // What this run learned of each topic: one that refused is not tried again in this run
    // (one probe per failing topic), one that took a copy is no longer probed.
    const run: RunState = { failing: new Map(), healthy: new Set() };
    let handled = 0;
    while (handled < maxRows) {
      const limit = Math.min(batchSize, maxRows - handled);
      const count = await db
        .transaction()
        .execute((trx) =>
          relayBatch(trx, { limit, minAgeMs, maxBackoffSeconds: maxBackoffMs / 1000 }, run, report),
        );
      handled += count;
      if (count < limit) break;
    }
    for (const [topic, error] of run.failing) {
      report.failingRoutes.push({
        topic,
        ...(statusOf(error) === undefined ? {} : { status: statusOf(error) }),
        error: messageOf(error),
        waiting: await countWaiting(topic),
      });
    }
    return report;
  }

  async function relayBatch(
    trx: Kysely<Database>,
    options: { limit: number; minAgeMs: number; maxBackoffSeconds: number },
    run: RunState,
    report: RelayReport,
  ): Promise<number> {
    // Rows younger than minAgeMs are normally being published by their writer.
    const rows = await trx
      .selectFrom('outbox')
      .select(['id', 'event', 'producer', 'published_topics', 'traceparent'])
      .where('sent_at', 'is', null)
      .where('set_aside_at', 'is', null)
      .where(
        'created_at',
        '<=',
        sql<Date>`now() - make_interval(secs => ${options.minAgeMs / 1000})`,
      )
      .where((eb) =>
        eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', sql<Date>`now()`)]),
      )
      .orderBy('created_at')
      .limit(options.limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length === 0) return 0;

    const plans = rows.map((row) => ({ row, ...planOf(row.event, row.producer) }));
    // Each row's messages continue the trace of the work that wrote it, not this run's.
    for (const { row, event } of plans) if (event) setTraceparentOf(event, row.traceparent);
    const owed = plans.flatMap(({ row, event, topics }) =>
      event && topics
        ? topics
            .filter((topic) => !row.published_topics.includes(topic))
            .map((topic): EventCopy => ({ event, topic }))
        : [],
    );
    const outcomes = await publishProbingFirst(owed, run);
    report.copies += outcomes.filter((outcome) => outcome.published).length;

    const updates = plans.map(({ row, event, topics, setAside }) => {
      if (setAside !== undefined || !event || !topics) {
        report.setAside.push({
          id: row.id,
          reason: setAside ?? 'no routes',
          ...(row.producer === null ? {} : { producer: row.producer }),
          ...describedBy(row.event),
        });
        return { id: row.id, published_topics: row.published_topics, set_aside_reason: setAside };
      }
      const taken = new Set(row.published_topics);
      for (const outcome of outcomes) {
        if (outcome.event === event && outcome.published) taken.add(outcome.topic);
      }
      const missing = topics.find((topic) => !taken.has(topic));
      if (missing === undefined) report.sent++;
      else report.deferred++;
      const failure = missing === undefined ? undefined : run.failing.get(missing);
      return {
        id: row.id,
        published_topics: [...taken],
        sent: missing === undefined,
        error:
          missing === undefined
            ? undefined
            : `${missing}: ${failure === undefined ? 'not published' : messageOf(failure)}`.slice(
                0,
                1000,
              ),
      };
    });
    await sql`
      update outbox o set
        published_topics = u.published_topics,
        sent_at = case when u.sent then now() end,
        attempts = o.attempts + (u.error is not null)::int,
        last_error = coalesce(u.error, o.last_error),
        next_attempt_at = case when u.error is not null
          then clock_timestamp()
            -- The exponent is capped: 2^1024 overflows a double, and 2^30 s is past any wait.
            + least(power(2, least(o.attempts + 1, 30)), ${options.maxBackoffSeconds}::float8)
              * interval '1 second'
          else o.next_attempt_at end,
        set_aside_at = case when u.set_aside_reason is not null then now() end,
        set_aside_reason = u.set_aside_reason
      from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb)
        as u (id uuid, published_topics text[], sent boolean, error text, set_aside_reason text)
      where o.id = u.id`.execute(trx);
    return rows.length;
  }

  /**
   * Publishes `copies` except those to topics that refused earlier in this run; a topic not
   * yet heard from in this run gets one copy first, and the rest only if it took that one.
   */
  async function publishProbingFirst(
    copies: readonly EventCopy[],
    run: RunState,
  ): Promise<CopyOutcome[]> {
    const first: EventCopy[] = [];
    const later: EventCopy[] = [];
    const probed = new Set<TopicName>();
    for (const copy of copies) {
      if (run.failing.has(copy.topic)) continue;
      if (run.healthy.has(copy.topic)) first.push(copy);
      else if (probed.has(copy.topic)) later.push(copy);
      else {
        probed.add(copy.topic);
        first.push(copy);
      }
    }
    const outcomes = await publishLearning(first, run);
    return [
      ...outcomes,
      ...(await publishLearning(
        later.filter((copy) => !run.failing.has(copy.topic)),
        run,
      )),
    ];
  }

  async function publishLearning(copies: EventCopy[], run: RunState): Promise<CopyOutcome[]> {
    if (copies.length === 0) return [];
    const outcomes = await bus.publish(copies);
    for (const outcome of outcomes) {
      if (outcome.published) run.healthy.add(outcome.topic);
      else if (!run.failing.has(outcome.topic)) run.failing.set(outcome.topic, outcome.error);
    }
    return outcomes;
  }

  async function countWaiting(topic: TopicName): Promise<number> {
    const types = Object.entries(routes)
      .filter(([, topics]) => topics.includes(topic))
      .map(([type]) => type);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from outbox
      where sent_at is null and set_aside_at is null
        and event->>'type' = any(${types}::text[]) and not (${topic} = any(published_topics))`.execute(
      db,
    );
    return rows[0]!.n;
  }

  return {
    publishCommitted,
    relay,
  };
}

interface RunState {
  failing: Map<TopicName, unknown>;
  healthy: Set<TopicName>;
}

/** What a stored row owes: its copies, or why it can never be published. */
function planOf(
  stored: unknown,
  producer: string | null,
): {
  event?: Envelope;
  topics?: readonly TopicName[];
  setAside?: string;
} {
  const verdict = publishable(stored, producer);
  if ('refusal' in verdict) return { setAside: verdict.refusal };
  // The stored envelope is published as it is.
  return { event: stored as Envelope, topics: verdict.topics };
}

/** The type and correlation id of a stored row, as far as it has them. */
function describedBy(stored: unknown): { type?: string; correlationId?: string } {
  const { type, correlationId } = (stored ?? {}) as Record<string, unknown>;
  return {
    ...(typeof type === 'string' ? { type } : {}),
    ...(typeof correlationId === 'string' ? { correlationId } : {}),
  };
}

/** The HTTP status a publisher's error carries, if any (the REST publisher's `PublishError`). */
function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
