import type { Database } from '@orders/db';
import type { Envelope } from '@orders/events';
import { outboxRows } from '@orders/messaging';
import { UnprocessableEventError } from '@orders/runtime';
import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';

export type PaymentRecord = Selectable<Database['payments']>;
/** What the provider said of a payment; a field left out keeps what was recorded before. */
export type PaymentUpdate = Omit<Insertable<Database['payments']>, 'created_at' | 'updated_at'>;

export interface PaymentUnitOfWork {
  /** The payment as recorded when the unit began, under its lock. */
  payment: PaymentRecord | undefined;
  /** The database's time once the lock is held: the time of the events this work emits. */
  now: Date;
  /**
   * Records what the provider said (if anything) and the events to emit, in one statement;
   * returns the events, for the consumer to publish after commit. Refuses (an
   * UnprocessableEventError, nothing written) an update of another payment, one that moves
   * the payment to another order, changes the money of a charged or refunded payment, or
   * takes a charged payment anywhere but refunded, or a refunded one anywhere.
   */
  commit(
    update: PaymentUpdate | undefined,
    events: readonly Envelope[],
  ): Promise<readonly Envelope[]>;
}

export interface PaymentStore {
  /**
   * Runs `work` in one transaction that claims `eventId` for this consumer and holds the
   * lock of `paymentId` until it ends: returns 'duplicate' without running it when the event
   * was handled before.
   */
  transact<T>(
    eventId: string,
    paymentId: string,
    work: (unit: PaymentUnitOfWork) => Promise<T>,
  ): Promise<T | 'duplicate'>;
}

/** Namespace of this service's advisory locks: the ASCII of "paym". */
const lockNamespace = 0x7061796d;

/**
 * Every statement that handling a payments message runs, in one place (the provider's calls
 * happen between 2 and 3, so the outbox rows are inserted after them):
 * 1. claim the event in the inbox and, once claimed, lock the payment (whether or not its row
 *    exists yet: the table holds settled outcomes only) and read the database's clock: one
 *    statement. Work on one payment is serialized, so two events about it never both reach
 *    the provider. A duplicate takes no lock.
 * 2. read the payment, in a statement of its own: a statement that waited for the lock
 *    would read the row as it was before the wait;
 * 3. commit what the provider said and the outbox rows of the events it emits: one statement,
 *    checked first against the payment as read under the lock (`assertUpdateAllowed`).
 */
export function createPostgresPaymentStore(
  db: Kysely<Database>,
  { consumer }: { consumer: string },
): PaymentStore {
  return {
    transact(eventId, paymentId, work) {
      return db.transaction().execute(async (trx) => {
        // offset 0 keeps the lock in a subquery of its own, taken after the claim's insert
        // and before the clock is read.
        const { rows } = await sql<{ now: Date; claimed: boolean }>`
          with claim as (
            insert into processed_events (consumer, event_id)
            values (${consumer}, ${eventId}::uuid)
            on conflict (consumer, event_id) do nothing
            returning 1
          )
          select clock_timestamp() as now, locked.claimed
          from (
            select count(*) > 0 as claimed
            from (select pg_advisory_xact_lock(${lockNamespace}, hashtext(${paymentId})) from claim) as lock
            offset 0
          ) as locked`.execute(trx);
        const { now, claimed } = rows[0]!;
        if (!claimed) return 'duplicate';
        const payment = await trx
          .selectFrom('payments')
          .selectAll()
          .where('payment_id', '=', paymentId)
          .executeTakeFirst();
        return work({
          payment,
          now,
          commit: (update, events) => {
            if (update) assertUpdateAllowed(paymentId, payment, update);
            return commit(trx, update, events);
          },
        });
      });
    },
  };
}

/** Where a recorded payment may go: money charged is only ever paid back, once. */
const nextStatuses: Record<PaymentRecord['status'], readonly PaymentRecord['status'][]> = {
  declined: ['declined', 'voided', 'charged', 'refunded'],
  voided: ['voided', 'declined', 'charged', 'refunded'],
  charged: ['charged', 'refunded'],
  refunded: ['refunded'],
};

function assertUpdateAllowed(
  paymentId: string,
  payment: PaymentRecord | undefined,
  update: PaymentUpdate,
) {
  const refuse = (why: string) => {
    throw new UnprocessableEventError(`refusing to record payment ${paymentId}: ${why}`);
  };
  if (update.payment_id !== paymentId) refuse(`the update is of payment ${update.payment_id}`);
  if (!payment) return;
  if (update.order_id !== payment.order_id) {
    refuse(`it is of order ${payment.order_id}, not ${update.order_id}`);
  }
  if (!nextStatuses[payment.status].includes(update.status)) {
    refuse(`it is ${payment.status} and cannot become ${update.status}`);
  }
  const moneyFixed = payment.status === 'charged' || payment.status === 'refunded';
  if (
    moneyFixed &&
    (update.amount_minor !== payment.amount_minor || update.currency !== payment.currency)
  ) {
    refuse(
      `it was ${payment.status} ${payment.amount_minor} ${payment.currency}, not ${update.amount_minor} ${update.currency}`,
    );
  }
}

async function commit(
  trx: Kysely<Database>,
  update: PaymentUpdate | undefined,
  events: readonly Envelope[],
): Promise<readonly Envelope[]> {
  const writes = [];
  if (update) {
    writes.push(sql`
      insert into payments (payment_id, order_id, customer_id, amount_minor, currency, status,
        provider_ref, failure_reason, refund_id)
      values (${update.payment_id}, ${update.order_id}::uuid, ${update.customer_id ?? null},
        ${update.amount_minor}, ${update.currency}, ${update.status}, ${update.provider_ref ?? null},
        ${update.failure_reason ?? null}, ${update.refund_id ?? null})
      on conflict (payment_id) do update set
        status = excluded.status,
        customer_id = coalesce(excluded.customer_id, payments.customer_id),
        amount_minor = excluded.amount_minor,
        currency = excluded.currency,
        provider_ref = coalesce(excluded.provider_ref, payments.provider_ref),
        failure_reason = coalesce(excluded.failure_reason, payments.failure_reason),
        refund_id = coalesce(excluded.refund_id, payments.refund_id),
        updated_at = now()`);
  }
  if (events.length > 0) {
    const rows = outboxRows('payment-handler', events).map(
      (row) =>
        sql`(${row.id}::uuid, ${row.event}::jsonb, ${row.producer}::text, ${row.traceparent}::text)`,
    );
    writes.push(
      sql`insert into outbox (id, event, producer, traceparent) values ${sql.join(rows)}`,
    );
  }
  if (writes.length === 0) return events;
  const [last, ...before] = writes.reverse();
  const alongside = before.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write})`);
  await (alongside.length > 0 ? sql`with ${sql.join(alongside)} ${last}` : last!).execute(trx);
  return events;
}
