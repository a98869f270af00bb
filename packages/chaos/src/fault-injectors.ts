import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '@orders/db';
import { type Envelope, type EventBus, routedCopies } from '@orders/events';
import type { PubSubProxy } from '@orders/local-stack';
import { type Kysely, sql } from 'kysely';
import { type FaultCounts, seededRandom, seededUuid } from './fault-plan';

interface Injector {
  seed: string;
  faults: FaultCounts;
  /** Aborted when the load is over: the injector stops. */
  signal: AbortSignal;
  /** Mean time between two faults; each wait is drawn from [0.5, 1.5] of it. */
  meanIntervalMs: number;
}

async function everyWhile(
  { seed, signal, meanIntervalMs }: Injector,
  stream: string,
  inject: (random: () => number) => Promise<void>,
) {
  const random = seededRandom(seed, stream);
  while (!signal.aborted) {
    await sleep(meanIntervalMs * (0.5 + random()), undefined, { signal }).catch(() => {});
    if (!signal.aborted) await inject(random);
  }
}

/** SIGKILLs a function process at seeded moments; the stack starts it again. */
export function injectCrashes(
  options: Injector & { functions: readonly string[]; pidOf(name: string): number | undefined },
): Promise<void> {
  return everyWhile(options, 'crash', async (random) => {
    const name = options.functions[Math.floor(random() * options.functions.length)]!;
    const pid = options.pidOf(name);
    if (pid === undefined) return; // still restarting from the last crash
    try {
      process.kill(pid, 'SIGKILL');
      options.faults.crash += 1;
    } catch {
      // it died meanwhile
    }
  });
}

/**
 * Terminates (`pg_terminate_backend`) a database connection of the functions that is in
 * the middle of a transaction begun less than 2 s ago. Not an older one: a long transaction
 * (a slow payment's void and refund take 6 s) would be the one picked on every attempt, a
 * fault no retry budget outlasts. The chaos tool's own connections are named `chaos`.
 */
export function injectConnectionKills(options: Injector & { db: Kysely<Database> }): Promise<void> {
  return everyWhile(options, 'db-kill', async (random) => {
    const { rows } = await sql<{ pid: number }>`
      select pid from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
        and backend_type = 'client backend' and application_name <> 'chaos'
        and xact_start > now() - interval '2 seconds'
      order by pid`.execute(options.db);
    if (rows.length === 0) return;
    const { pid } = rows[Math.floor(random() * rows.length)]!;
    const { rows: killed } = await sql<{ done: boolean }>`
      select pg_terminate_backend(${pid}) as done`.execute(options.db);
    if (killed[0]?.done) options.faults['db-connection-killed'] += 1;
  });
}

/** The topics whose publishes may be refused (the scheduler's ticks do not pass the proxy). */
const refusableTopics = ['order-saga', 'payments', 'analytics'] as const;

/**
 * Makes a topic refuse every publish of the functions (403 or 404) for `durationMs` at
 * seeded moments, as a topic that went missing or a publisher that lost its role would.
 */
export function injectPublishRefusals(
  options: Injector & { proxy: PubSubProxy; durationMs: number },
): Promise<void> {
  return everyWhile(options, 'publish-refusal', async (random) => {
    const topic = refusableTopics[Math.floor(random() * refusableTopics.length)]!;
    options.proxy.refuse(topic, random() < 0.5 ? 403 : 404);
    options.faults['publish-refused'] += 1;
    try {
      await sleep(options.durationMs);
    } finally {
      options.proxy.accept(topic);
    }
  });
}

/** Publishes events that were already published, each twice at once. */
export function injectRepublishes(
  options: Injector & { db: Kysely<Database>; bus: EventBus },
): Promise<void> {
  return everyWhile(options, 'republish', async (random) => {
    const { rows } = await sql<{ event: Envelope }>`
      select event from outbox where sent_at is not null
      order by md5(id::text || ${String(random())}) limit 2`.execute(options.db);
    if (rows.length === 0) return;
    const events = rows.map((row) => row.event);
    const copies = routedCopies(events);
    const outcomes = await Promise.all([options.bus.publish(copies), options.bus.publish(copies)]);
    const errors = outcomes.flat().flatMap((outcome) => (outcome.published ? [] : [outcome.error]));
    if (errors.length > 0)
      throw new AggregateError(errors, `${errors.length} republished copies refused`);
    options.faults.republish += events.length;
  });
}

/** The event type whose shape a poison message imitates, per topic. */
const imitated = {
  'order-saga': 'OrderPlaced',
  payments: 'PaymentRequested',
  analytics: 'OrderConfirmed',
};
const poisonedTopics = Object.keys(imitated) as (keyof typeof imitated)[];
const poisonKinds = ['bad-json', 'bad-schema', 'unknown-version', 'unknown-type'] as const;

export interface PoisonMessage {
  topic: string;
  kind: (typeof poisonKinds)[number];
  eventId: string;
  data: Buffer;
  attributes: Record<string, string>;
}

/**
 * Poison message `n` of a seed: never handleable, so its consumer must dead-letter it (with
 * a reason) and carry on. Each carries a `chaos_poison` attribute so the check finds it.
 */
export function poisonMessage(seed: string, n: number): PoisonMessage {
  const topic = poisonedTopics[n % poisonedTopics.length]!;
  const kind = poisonKinds[Math.floor(n / poisonedTopics.length) % poisonKinds.length]!;
  const type = kind === 'unknown-type' ? 'OrderTeleported' : imitated[topic];
  const version = kind === 'unknown-version' ? 99 : type === 'OrderPlaced' ? 2 : 1;
  const eventId = seededUuid(seed, 'poison', n);
  const envelope = {
    id: eventId,
    type,
    version,
    source: 'chaos',
    occurredAt: new Date().toISOString(),
    correlationId: seededUuid(seed, 'poison-correlation', n),
    causationId: null,
    subject: seededUuid(seed, 'poison-subject', n),
    // Wrong in every field: whatever the type, this fails its schema.
    data: { orderId: 'not-a-uuid', totalMinor: '12.50', items: 'many' },
  };
  const json = JSON.stringify(envelope);
  return {
    topic,
    kind,
    eventId,
    data: Buffer.from(kind === 'bad-json' ? json.slice(0, json.length / 2) : json),
    attributes: {
      event_type: type,
      event_version: String(version),
      event_id: eventId,
      correlation_id: envelope.correlationId,
      chaos_poison: kind,
    },
  };
}
