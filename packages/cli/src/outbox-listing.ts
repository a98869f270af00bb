import type { Database } from '@orders/db';
import { routesOf } from '@orders/events';
import { type Kysely, sql } from 'kysely';

/** Where an unpublished row stands with the relay. */
type OutboxRowState =
  /** The relay publishes it at its next run (or its writer is publishing it now). */
  | 'due'
  /** A route refused it: the relay tries again at `nextAttemptAt`. */
  | 'waiting'
  /** It can never be published as it is: the relay skips it (`setAsideReason`). */
  | 'set aside';

/** One outbox row not yet published everywhere, as `pnpm outbox` shows it. */
export interface OutboxListing {
  eventId: string;
  /** From the stored envelope, as far as it has them (a planted row may not). */
  type: string | null;
  orderId: string | null;
  correlationId: string | null;
  producer: string | null;
  state: OutboxRowState;
  /** ISO, UTC; and its age by the database's clock, in whole seconds. */
  createdAt: string;
  ageSeconds: number;
  /** The topics of its type's routes that have taken it, and those it still owes. */
  publishedTopics: string[];
  owedTopics: string[];
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  setAsideAt: string | null;
  setAsideReason: string | null;
}

/** One row with its event, as `pnpm outbox show` shows it; sent rows too. */
export interface OutboxRowDetail extends Omit<OutboxListing, 'state'> {
  state: OutboxRowState | 'sent';
  sentAt: string | null;
  event: unknown;
}

/** The outbox at a glance: what the relay still owes, and what it will never publish. */
export interface OutboxHealth {
  /** Unsent rows that are not set aside, and the oldest one's age (whole seconds). */
  unsent: number;
  oldestUnsentSeconds: number | null;
  /** Of those, the ones backing off after a refusal. */
  waiting: number;
  setAside: number;
}

function selectRows(db: Kysely<Database>) {
  return db
    .selectFrom('outbox')
    .select([
      'id',
      'producer',
      'created_at',
      'sent_at',
      'published_topics',
      'attempts',
      'last_error',
      'next_attempt_at',
      'set_aside_at',
      'set_aside_reason',
      sql<string | null>`event->>'type'`.as('type'),
      sql<string | null>`event->>'subject'`.as('subject'),
      sql<string | null>`event->>'correlationId'`.as('correlation_id'),
      sql<number>`floor(extract(epoch from now() - created_at))::int`.as('age_seconds'),
      sql<boolean>`coalesce(next_attempt_at > now(), false)`.as('backing_off'),
    ]);
}

type Row = Awaited<ReturnType<ReturnType<typeof selectRows>['executeTakeFirstOrThrow']>>;

function listingOf(row: Row): OutboxListing {
  const routes = (row.type === null ? undefined : routesOf(row.type)) ?? [];
  return {
    eventId: row.id,
    type: row.type,
    orderId: row.subject,
    correlationId: row.correlation_id,
    producer: row.producer,
    state: row.set_aside_at !== null ? 'set aside' : row.backing_off ? 'waiting' : 'due',
    createdAt: row.created_at.toISOString(),
    ageSeconds: row.age_seconds,
    publishedTopics: row.published_topics,
    owedTopics: routes.filter((topic) => !row.published_topics.includes(topic)),
    attempts: row.attempts,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    setAsideAt: row.set_aside_at?.toISOString() ?? null,
    setAsideReason: row.set_aside_reason,
  };
}

/** The rows not yet published (or only the set-aside ones), oldest first. */
export async function listOutbox(
  db: Kysely<Database>,
  { setAside, limit }: { setAside: boolean; limit: number },
): Promise<OutboxListing[]> {
  const rows = await selectRows(db)
    .where('sent_at', 'is', null)
    .$if(setAside, (query) => query.where('set_aside_at', 'is not', null))
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(listingOf);
}

/** One row, sent or not, with its event; undefined when there is none. */
export async function findOutboxRow(
  db: Kysely<Database>,
  eventId: string,
): Promise<OutboxRowDetail | undefined> {
  const row = await selectRows(db).select('event').where('id', '=', eventId).executeTakeFirst();
  if (!row) return undefined;
  const listing = listingOf(row);
  return {
    ...listing,
    state: row.sent_at === null ? listing.state : 'sent',
    owedTopics: row.sent_at === null ? listing.owedTopics : [],
    sentAt: row.sent_at?.toISOString() ?? null,
    event: row.event,
  };
}

/** How many rows the relay still owes, the oldest one's age, and how many it set aside. */
export async function outboxHealth(db: Kysely<Database>): Promise<OutboxHealth> {
  const row = await db
    .selectFrom('outbox')
    .select([
      sql<number>`count(*) filter (where set_aside_at is null)::int`.as('unsent'),
      sql<
        number | null
      >`floor(extract(epoch from now() - min(created_at) filter (where set_aside_at is null)))::int`.as(
        'oldest',
      ),
      sql<number>`count(*) filter (where set_aside_at is null and next_attempt_at > now())::int`.as(
        'waiting',
      ),
      sql<number>`count(*) filter (where set_aside_at is not null)::int`.as('set_aside'),
    ])
    .where('sent_at', 'is', null)
    .executeTakeFirstOrThrow();
  return {
    unsent: row.unsent,
    oldestUnsentSeconds: row.oldest,
    waiting: row.waiting,
    setAside: row.set_aside,
  };
}
