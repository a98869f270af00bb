import type { CloudEvent } from '@google-cloud/functions-framework';
import { type Database, isPermanentDbError } from '@orders/db';
import {
  type DeadLetters,
  type DomainEvent,
  decodeMessage,
  type Envelope,
  InvalidEventError,
  type PubSubMessage,
} from '@orders/events';
import { claimEvent, type Outbox, outboxInsert } from '@orders/idempotency';
import type { Kysely, RawBuilder } from 'kysely';
import { type Logger, traceFields } from './logger';
import { isRetryable } from './retryable';

/** The body of a Pub/Sub message delivered as a CloudEvent, in either delivery shape. */
export interface MessagePublishedData {
  message?: PubSubMessage & { messageId?: string; publishTime?: string };
  subscription?: string;
}

export interface ConsumerContext {
  /** The transaction that holds the inbox claim: write every effect through it. */
  trx: Kysely<Database>;
  log: Logger;
  /**
   * Queues events in the outbox of this transaction; they are published after commit. Emit
   * last (after the provider call, after the other writes): the relay counts a row's age from
   * its insert, and publishes it itself once that age passes OUTBOX_RELAY_MIN_AGE_MS.
   */
  emit(...events: Envelope[]): Promise<void>;
  /**
   * `emit` in a statement of the handler's own: the outbox insert of `events` (at least one),
   * for the handler to run inside one of its statements in this transaction (a round trip
   * less); the events are published after commit. Run it, or they are published with no row
   * behind them.
   */
  emitting(...events: Envelope[]): RawBuilder<unknown>;
}

/**
 * A message that is valid but can never be handled (an impossible transition, say): the
 * consumer dead-letters it with `reason` instead of retrying.
 */
export class UnprocessableEventError extends Error {
  override readonly name = 'UnprocessableEventError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface CommonConsumerOptions {
  /** The consumer's name in the inbox and the logs: a function name. */
  name: string;
  /** The topic it consumes; permanent failures go to `<topic>-dlq`. */
  topic: string;
  projectId: string;
  deadLetters: DeadLetters;
  logger: Logger;
  /** The currency of an OrderPlaced v1 that names none: LEGACY_CURRENCY of the config. */
  legacyCurrency: string;
}

/** A consumer whose effects are database writes: claimed, written and emitted atomically. */
export interface ConsumerOptions extends CommonConsumerOptions {
  db: Kysely<Database>;
  outbox: Outbox;
  handle(event: DomainEvent, context: ConsumerContext): Promise<void>;
}

/**
 * A consumer whose one effect is idempotent by itself (a warehouse insert keyed by event id):
 * no inbox, no transaction, nothing emitted.
 */
export interface IdempotentEffectConsumerOptions extends CommonConsumerOptions {
  handle(event: DomainEvent, context: { log: Logger }): Promise<void>;
}

/**
 * The wrapper of every CloudEvent function. It accepts an Eventarc `messagePublished`
 * CloudEvent and a raw push that functions-framework converted (both carry `{message}`),
 * and maps outcomes onto Pub/Sub's delivery contract:
 * 1. decode and upcast; a message that can never be handled goes to `<topic>-dlq` (ack);
 * 2. in one transaction, claim the event id in the inbox, then run the handler; a
 *    duplicate finds the claim and does nothing (ack);
 * 3. after commit, publish what the handler emitted (the outbox relay covers a crash);
 * 4. any other failure throws: functions-framework answers 500 and Pub/Sub redelivers
 *    with backoff, then dead-letters after the topic's max delivery attempts.
 */
export function createConsumer(options: ConsumerOptions): ConsumerFunction;
export function createConsumer(options: IdempotentEffectConsumerOptions): ConsumerFunction;
export function createConsumer(
  options: ConsumerOptions | IdempotentEffectConsumerOptions,
): ConsumerFunction {
  const { name, topic, projectId, deadLetters, logger, legacyCurrency } = options;

  async function consume(cloudEvent: CloudEvent<MessagePublishedData>, context: { log: Logger }) {
    const deadLetter = async (message: DeadLetterMessage, reason: string) => {
      await deadLetters.send({ topic, message, reason, consumer: name });
      context.log.warn('message dead-lettered', { reason, topic });
    };

    // 1. Decode and upcast; what can never be handled is dead-lettered and acked.
    const message = cloudEvent.data?.message;
    if (!message) {
      const raw = Buffer.from(JSON.stringify(cloudEvent.data ?? null));
      return deadLetter({ data: raw }, 'not a Pub/Sub message');
    }
    const correlationId = message.attributes?.correlation_id;
    context.log = context.log.child({
      messageId: message.messageId,
      ...(correlationId ? { correlationId } : {}),
    });
    let event: DomainEvent;
    try {
      event = decodeMessage(message, { legacyCurrency });
    } catch (error) {
      if (error instanceof InvalidEventError) return deadLetter(message, error.reason);
      throw error;
    }
    const log = context.log.child({
      correlationId: event.correlationId,
      eventId: event.id,
      eventType: event.type,
    });
    context.log = log;

    // 2. Claim and handle in one transaction; a duplicate finds the claim.
    try {
      if (!('db' in options)) {
        await options.handle(event, { log });
        return log.info('event handled');
      }
      const { db, outbox, handle } = options;
      const emitted: Envelope[] = [];
      const handled = await db.transaction().execute(async (trx) => {
        if (!(await claimEvent(trx, name, event.id))) return false;
        const emit = async (...events: Envelope[]) => {
          await outbox.write(trx, events);
          emitted.push(...events);
        };
        const emitting = (...events: Envelope[]) => {
          emitted.push(...events);
          return outboxInsert(events);
        };
        await handle(event, { trx, log, emit, emitting });
        return true;
      });
      if (!handled) return log.info('duplicate delivery ignored');

      // 3. Publish what was emitted; the outbox relay covers a crash before this.
      await outbox.publishCommitted(emitted);
      log.info('event handled', { emitted: emitted.map((e) => e.type) });
    } catch (error) {
      if (error instanceof UnprocessableEventError) return deadLetter(message, error.reason);
      // Retrying a statement the database refuses for good would only loop until Pub/Sub
      // gives up, and the dead letter would then carry no reason.
      if (!isRetryable(error) && isPermanentDbError(error)) {
        return deadLetter(
          message,
          `the database refused it for good (SQLSTATE ${error.code}): ${error.message}`,
        );
      }
      throw error;
    }
  }

  return async (cloudEvent: CloudEvent<MessagePublishedData>): Promise<void> => {
    const context = {
      log: logger.child(traceFields({ traceparent: cloudEvent.traceparent }, projectId)),
    };
    try {
      await consume(cloudEvent, context);
    } catch (error) {
      // 4. Anything else: answer 500 so that Pub/Sub redelivers, then dead-letters.
      const level = isRetryable(error) ? 'warn' : 'error';
      context.log[level]('handling failed; Pub/Sub will redeliver', { error });
      throw new RedeliveryRequestedError(error);
    }
  };
}

/**
 * Makes functions-framework answer 500. The framework prints the stack of what a function
 * throws to stderr as plain text; this error's stack is one line, since the details are
 * already in the structured log entry above it.
 */
class RedeliveryRequestedError extends Error {
  override readonly name = 'RedeliveryRequestedError';
  constructor(cause: unknown) {
    super('handling failed; Pub/Sub will redeliver', { cause });
    this.stack = `${this.name}: ${this.message}`;
  }
}

type DeadLetterMessage = Parameters<DeadLetters['send']>[0]['message'];
type ConsumerFunction = (cloudEvent: CloudEvent<MessagePublishedData>) => Promise<void>;
