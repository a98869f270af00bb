import { randomUUID } from 'node:crypto';
import * as functions from '@google-cloud/functions-framework';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createEvent, encodeEvent } from '@orders/events';
import { type ServedFunction, serveFunction, testProjectId } from '@orders/local-stack';
import { createPublisher, createPubSubDeadLetters } from '@orders/messaging';
import { createLogger } from '@orders/platform';
import { createConsumer } from './consumer';

/**
 * What an expected retry writes, through functions-framework's own server: the consumer's one
 * JSON line, no stack trace, and nothing from the framework; any other failure of a
 * CloudEvent function is still printed by the framework.
 */
const projectId = testProjectId('retry-line');
const lines: string[] = [];
let consumer: ServedFunction;
let plain: ServedFunction;

beforeAll(async () => {
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  functions.cloudEvent(
    'retryingConsumer',
    createConsumer({
      name: 'retrying-consumer',
      topic: 'analytics',
      projectId,
      deadLetters: createPubSubDeadLetters(createPublisher({ projectId, emulatorHost })),
      logger: createLogger({ write: (line) => lines.push(line) }),
      legacyCurrency: 'USD',
      handle: async () => {
        // What a flaky provider throws: a failure that says it passes on a later delivery.
        throw Object.assign(new Error('sandbox provider unavailable (503): nothing was done'), {
          name: 'TransientProviderError',
          retryable: true,
        });
      },
    }),
  );
  functions.cloudEvent('plainFunction', async () => {
    throw new Error('a failure nobody logged');
  });
  consumer = await serveFunction('retryingConsumer', { projectId, topic: 'analytics' });
  plain = await serveFunction('plainFunction', { projectId, topic: 'analytics' });
});

afterAll(async () => {
  await consumer?.close();
  await plain?.close();
});

afterEach(() => {
  jest.restoreAllMocks();
  lines.length = 0;
});

const message = () =>
  encodeEvent(
    createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 1299, currency: 'EUR' },
      { source: 'test', correlationId: randomUUID() },
    ),
  );

/** Everything written to stdout and stderr, by console or directly, while `act` runs. */
async function written(act: () => Promise<void>): Promise<string> {
  let text = '';
  const record = (chunk: unknown) => {
    text += String(chunk);
    return true;
  };
  jest.spyOn(process.stdout, 'write').mockImplementation(record);
  jest.spyOn(process.stderr, 'write').mockImplementation(record);
  for (const method of ['log', 'info', 'warn', 'error'] as const) {
    jest.spyOn(console, method).mockImplementation((...args) => record(`${args.join(' ')}\n`));
  }
  await act();
  return text;
}

describe('an expected retry', () => {
  it('answers 500 (Pub/Sub redelivers) and logs one JSON line, without a stack trace', async () => {
    const output = await written(async () => {
      expect((await consumer.deliver(message())).status).toBe(500);
    });
    expect(output).toBe('');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      severity: 'WARNING',
      message: 'handling failed; Pub/Sub will redeliver',
      error: {
        name: 'TransientProviderError',
        message: 'sandbox provider unavailable (503): nothing was done',
      },
    });
    expect(entry).not.toHaveProperty('stack_trace');
  });

  it('leaves the framework printing a failure no one logged', async () => {
    const output = await written(async () => {
      expect((await plain.deliver(message())).status).toBe(500);
    });
    expect(output).toContain('Error: a failure nobody logged');
  });
});
