import type { CloudEvent } from '@google-cloud/functions-framework';
import { isPermanentDbError } from '@orders/db';
import {
  type DeadLetters,
  type DomainEvent,
  decodeMessage,
  type Envelope,
  InvalidEventError,
  type PubSubMessage,
} from '@orders/events';
import { type Outbox, runInTrace, traceOfMessage } from '@orders/messaging';
import { type Logger, parseTraceContext, traceFields } from '@orders/platform';
import { loggedFailure, quietLoggedFailures } from './framework-patches';
import { isRetryable } from './retryable';
import { processTracing } from './tracing';

/** The body of a Pub/Sub message delivered as a CloudEvent, in either delivery shape. */
export interface MessagePublishedData {
  message?: PubSubMessage & { messageId?: string; publishTime?: string };
  subscription?: string;
  /** Which delivery this is (1 the first), when the subscription has a dead-letter policy. */
  deliveryAttempt?: number;
}

/**
 * What a transactional handler did with an event: 'duplicate' when its inbox claim found the
 * event handled before (nothing was written), else the events its store wrote to the outbox
 * in the transaction that handled it, which the consumer publishes after commit. A store's
 * outbox rows are the one way to emit an event.
 */
export type Handled = 'duplicate' | { emitted: readonly Envelope[] };

/**
 * What became of one delivery. Each delivery logs exactly one line with `outcome`, `consumer`
 * and `topic`, whatever LOG_LEVEL says (`logger.metric`: the log-based metrics of
 * infra/monitoring.tf count them): `handled`,
 * `duplicate` (its inbox claim was there), `dead-lettered` (sent to `<topic>-dlq` and acked)
 * or `retried` (answered 500: Pub/Sub redelivers).
 */
type ConsumerOutcome = 'handled' | 'duplicate' | 'dead-lettered' | 'retried';

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
  /** The consumer's name in dead letters and logs: a function name. */
  name: string;
  /** The topic it consumes; permanent failures go to `<topic>-dlq`. */
  topic: string;
  projectId: string;
  deadLetters: DeadLetters;
  logger: Logger;
  /** The currency of an OrderPlaced v1 that names none: LEGACY_CURRENCY of the config. */
  legacyCurrency: string;
}

/**
 * A consumer whose effects are database writes: its handler's store claims the event in the
 * inbox, writes the effects and the outbox rows of what it emits in one transaction.
 */
export interface ConsumerOptions extends CommonConsumerOptions {
  outbox: Outbox;
  handle(event: DomainEvent, context: { log: Logger }): Promise<Handled>;
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
 * 2. run the handler, whose store claims the event id in the inbox and writes its effects
 *    in one transaction; a duplicate finds the claim and does nothing (ack);
 * 3. after commit, publish what the handler emitted (the outbox relay covers a crash);
 * 4. any other failure throws: functions-framework answers 500 and Pub/Sub redelivers
 *    with backoff, then dead-letters after the topic's max delivery attempts.
 *
 * It all runs in the trace of the work that published the message (its
 * `googclient_traceparent`; the push delivery's own only for a message without one): its log
 * lines are filed under it, with its span when tracing is on, and the events it emits carry
 * it on. Each outcome line says how long the message waited in its queue (`queueMs`, from
 * its publish time) and how long handling took (`handlingMs`).
 */
export function createConsumer(options: ConsumerOptions): ConsumerFunction;
export function createConsumer(options: IdempotentEffectConsumerOptions): ConsumerFunction;
export function createConsumer(
  options: ConsumerOptions | IdempotentEffectConsumerOptions,
): ConsumerFunction {
  const { name, topic, projectId, deadLetters, logger, legacyCurrency } = options;
  /** The fields of a delivery's outcome line, `handlingMs` as of now. */
  const outcome = (kind: ConsumerOutcome, context: { handlingMs: () => number }) => ({
    outcome: kind,
    consumer: name,
    topic,
    handlingMs: context.handlingMs(),
  });
  quietLoggedFailures();

  async function consume(
    cloudEvent: CloudEvent<MessagePublishedData>,
    context: { log: Logger; handlingMs: () => number },
  ) {
    const deadLetter = async (message: DeadLetterMessage, reason: string) => {
      await deadLetters.send({ topic, message, reason, consumer: name });
      context.log.metric(
        'message dead-lettered',
        { reason, ...outcome('dead-lettered', context) },
        'warn',
      );
    };

    // 1. Decode and upcast; what can never be handled is dead-lettered and acked.
    const message = cloudEvent.data?.message;
    if (!message) {
      const raw = Buffer.from(JSON.stringify(cloudEvent.data ?? null));
      return deadLetter({ data: raw }, 'not a Pub/Sub message');
    }
    const correlationId = message.attributes?.correlation_id;
    // What the message says it is, until its body is decoded (a dead letter's line keeps it).
    const eventType = message.attributes?.event_type;
    const published = message.publishTime ? Date.parse(message.publishTime) : Number.NaN;
    const attempt = cloudEvent.data?.deliveryAttempt;
    context.log = context.log.child({
      messageId: message.messageId,
      ...(correlationId ? { correlationId } : {}),
      ...(eventType ? { eventType } : {}),
      ...(Number.isNaN(published)
        ? {}
        : { publishTime: message.publishTime, queueMs: Math.max(0, Date.now() - published) }),
      ...(typeof attempt === 'number' ? { deliveryAttempt: attempt } : {}),
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

    // 2. Handle: claimed and written in one transaction; a duplicate finds the claim.
    try {
      if (!('outbox' in options)) {
        await options.handle(event, { log });
        return log.metric('event handled', outcome('handled', context));
      }
      const handled = await options.handle(event, { log });
      if (handled === 'duplicate') {
        return log.metric('duplicate delivery ignored', outcome('duplicate', context));
      }

      // 3. Publish what was emitted; the outbox relay covers a crash before this.
      await options.outbox.publishCommitted(handled.emitted);
      log.metric('event handled', {
        emitted: handled.emitted.map((e) => e.type),
        ...outcome('handled', context),
      });
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

  // Made at start: a bad OTEL_ setting fails the instance, not each request.
  const tracing = processTracing(projectId);
  return async (cloudEvent: CloudEvent<MessagePublishedData>): Promise<void> => {
    const started = performance.now();
    const message = cloudEvent.data?.message;
    const work = tracing.start(
      `${name} ${message?.attributes?.event_type ?? 'message'}`,
      traceOfMessage(message?.attributes) ??
        parseTraceContext({ traceparent: cloudEvent.traceparent }),
      {
        'messaging.system': 'gcp_pubsub',
        'messaging.destination.name': topic,
        'messaging.message.id': message?.messageId ?? '',
        'orders.correlation_id': message?.attributes?.correlation_id ?? '',
      },
    );
    const context = {
      log: logger.child(traceFields(work.trace, projectId)),
      handlingMs: () => Math.round(performance.now() - started),
    };
    try {
      await runInTrace(work.trace, () => consume(cloudEvent, context));
      work.end();
    } catch (error) {
      work.end(error);
      // 4. Anything else: answer 500 so that Pub/Sub redelivers, then dead-letters.
      const level = isRetryable(error) ? 'warn' : 'error';
      context.log.metric(
        'handling failed; Pub/Sub will redeliver',
        { error, ...outcome('retried', context) },
        level,
      );
      throw new RedeliveryRequestedError(error);
    } finally {
      await tracing.flush(context.log);
    }
  };
}

/**
 * Makes functions-framework answer 500. The failure is logged already (one JSON line), so it
 * is marked for `quietLoggedFailures`: the framework does not print it again. Its stack is
 * one line all the same, should a framework without the patch print it.
 */
class RedeliveryRequestedError extends Error {
  override readonly name = 'RedeliveryRequestedError';
  readonly [loggedFailure] = true;
  constructor(cause: unknown) {
    super('handling failed; Pub/Sub will redeliver', { cause });
    this.stack = `${this.name}: ${this.message}`;
  }
}

type DeadLetterMessage = Parameters<DeadLetters['send']>[0]['message'];
type ConsumerFunction = (cloudEvent: CloudEvent<MessagePublishedData>) => Promise<void>;
