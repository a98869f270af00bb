import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { describe, expect, it } from '@jest/globals';
import { topics } from '@orders/events';
import { startFunction } from './function-process';
import { lineSink } from './line-sink';
import { testProjectId } from './test-harness';
import {
  createTopology,
  emulatorClient,
  localDeliveryAttempts,
  pushEndpoint,
} from './topology-setup';
import { waiterShowing } from './wait-for';

const emulatorHost = () => process.env.PUBSUB_EMULATOR_HOST!;

function client(projectId: string): PubSub {
  return emulatorClient({ projectId, emulatorHost: emulatorHost() });
}

const discardOutput = lineSink();

const waitFor = waiterShowing([]);

/** What the event-recorder fixture wrote: one record per delivery. */
async function records(
  file: string,
): Promise<{ handled: boolean; cloudEvent: { data: { message: PushedMessage } } }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

interface PushedMessage {
  messageId: string;
  data: string;
}

describe('createTopology', () => {
  it('creates the declared topics, DLQs and consumer subscriptions with their delivery policy', async () => {
    const projectId = testProjectId('topology');
    const saga = 'http://127.0.0.1:9/projects/x/topics/order-saga';
    await createTopology({
      emulatorHost: emulatorHost(),
      projectId,
      pushEndpoints: { 'order-saga': saga, payments: 'http://127.0.0.1:9/payments' },
    });
    const pubsub = client(projectId);
    try {
      const [topicList] = await pubsub.getTopics();
      expect(topicList.map((topic) => topic.name.split('/').pop()).sort()).toEqual([
        'analytics',
        'analytics-dlq',
        'housekeeping',
        'housekeeping-dlq',
        'order-saga',
        'order-saga-dlq',
        'payments',
        'payments-dlq',
      ]);
      const [subscriptionList] = await pubsub.getSubscriptions();
      expect(subscriptionList.map((sub) => sub.name.split('/').pop()).sort()).toEqual([
        'analytics-dlq',
        'analytics-loader',
        'housekeeping',
        'housekeeping-dlq',
        'order-saga-dlq',
        'payment-handler',
        'payments-dlq',
        'process-order',
      ]);

      const delivery = topics['order-saga'].delivery;
      const [processOrder] = await pubsub.subscription('process-order').getMetadata();
      // Redelivery at once: the emulator stalls messages under a retry policy (see below).
      expect(processOrder.retryPolicy ?? null).toBeNull();
      expect(processOrder).toMatchObject({
        topic: `projects/${projectId}/topics/order-saga`,
        pushConfig: { pushEndpoint: saga },
        ackDeadlineSeconds: delivery.ackDeadlineSeconds,
        deadLetterPolicy: {
          deadLetterTopic: `projects/${projectId}/topics/order-saga-dlq`,
          maxDeliveryAttempts: localDeliveryAttempts(delivery),
        },
        enableMessageOrdering: false,
      });
      // A consumer that does not run holds its messages in a pull subscription.
      const [waiting] = await pubsub.subscription('analytics-loader').getMetadata();
      expect(waiting.pushConfig?.pushEndpoint ?? '').toBe('');
      expect(waiting.deadLetterPolicy?.deadLetterTopic).toBe(
        `projects/${projectId}/topics/analytics-dlq`,
      );
      const [dlq] = await pubsub.subscription('order-saga-dlq').getMetadata();
      expect(dlq.topic).toBe(`projects/${projectId}/topics/order-saga-dlq`);
      expect(dlq.pushConfig?.pushEndpoint ?? '').toBe('');

      // Again, as after a restart with new function ports: no error, endpoint follows.
      const moved = 'http://127.0.0.1:10/projects/x/topics/order-saga';
      await createTopology({
        emulatorHost: emulatorHost(),
        projectId,
        pushEndpoints: { 'order-saga': moved },
      });
      const [after] = await pubsub.subscription('process-order').getMetadata();
      expect(after.pushConfig?.pushEndpoint).toBe(moved);
      expect(after.deadLetterPolicy?.maxDeliveryAttempts).toBe(localDeliveryAttempts(delivery));
      // payment-handler no longer runs: back to pull.
      const [stopped] = await pubsub.subscription('payment-handler').getMetadata();
      expect(stopped.pushConfig?.pushEndpoint ?? '').toBe('');
    } finally {
      await pubsub.close();
    }
  }, 30_000);

  it('redelivers a failing push, then dead-letters it to <topic>-dlq', async () => {
    const projectId = testProjectId('dead-letter');
    const recordDir = await mkdtemp(join(tmpdir(), 'recorder-'));
    const recordFile = join(recordDir, 'events.jsonl');
    const sink = lineSink();
    const fn = await startFunction({
      name: 'event-recorder',
      dir: join(__dirname, 'fixtures', 'event-recorder'),
      entryPoint: 'record',
      signatureType: 'cloudevent',
      env: { PATH: process.env.PATH, RECORD_FILE: recordFile },
      stdout: sink,
      stderr: sink,
    });
    const pubsub = client(projectId);
    try {
      await createTopology({
        emulatorHost: emulatorHost(),
        projectId,
        topics: {
          'flaky-topic': {
            consumer: 'flaky-consumer',
            delivery: {
              ackDeadlineSeconds: 10,
              minimumBackoffSeconds: 0,
              maximumBackoffSeconds: 1,
              maxDeliveryAttempts: 5,
            },
          },
        },
        pushEndpoints: { 'flaky-topic': pushEndpoint(fn.url, projectId, 'flaky-topic') },
      });
      const topic = pubsub.topic('flaky-topic');
      await topic.publishMessage({ data: Buffer.from('poison'), attributes: { fail: 'always' } });
      await topic.publishMessage({ data: Buffer.from('fine'), attributes: { kind: 'ok' } });

      const deadLetters = pubsub.subscription('flaky-topic-dlq');
      const deadLetter = await new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('nothing dead-lettered in 40 s')), 40_000);
        deadLetters.once('message', (message: Message) => {
          clearTimeout(timer);
          message.ack();
          resolve(message);
        });
        deadLetters.once('error', reject);
      });
      await deadLetters.close();
      expect(deadLetter.data.toString()).toBe('poison');
      expect(deadLetter.attributes).toMatchObject({
        fail: 'always',
        CloudPubSubDeadLetterSourceSubscription: 'flaky-consumer',
        CloudPubSubDeadLetterSourceDeliveryCount: '5',
      });

      const bodies = async () =>
        (await records(recordFile)).map((record) =>
          Buffer.from(record.cloudEvent.data.message.data, 'base64').toString(),
        );
      // Each poison delivery is recorded before it fails, so all five are; the fine one
      // goes its own way.
      await waitFor(
        'the fine message to be recorded',
        async () => (await bodies()).includes('fine'),
        10_000,
      );
      expect((await bodies()).filter((body) => body === 'poison')).toHaveLength(5);
      expect((await bodies()).filter((body) => body === 'fine')).toHaveLength(1);
    } finally {
      await pubsub.close();
      await fn.stop();
      await rm(recordDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('keeps redelivering pushes that failed while their consumer was down, until handled', async () => {
    const projectId = testProjectId('stubborn');
    const recordDir = await mkdtemp(join(tmpdir(), 'recorder-'));
    const recordFile = join(recordDir, 'events.jsonl');
    const fn = await startFunction({
      name: 'event-recorder',
      dir: join(__dirname, 'fixtures', 'event-recorder'),
      entryPoint: 'record',
      signatureType: 'cloudevent',
      env: { PATH: process.env.PATH, RECORD_FILE: recordFile },
      stdout: discardOutput,
      stderr: discardOutput,
    });
    const pubsub = client(projectId);
    try {
      await createTopology({
        emulatorHost: emulatorHost(),
        projectId,
        pushEndpoints: { 'order-saga': pushEndpoint(fn.url, projectId, 'order-saga') },
      });
      // Twenty messages pushed while their consumer is down (as after a crash), each refused
      // five times, some 5 s at the emulator's pace: under a retry policy the emulator would
      // stop pushing them for good.
      await writeFile(`${recordFile}.down`, '');
      const topic = pubsub.topic('order-saga');
      await Promise.all(
        Array.from({ length: 20 }, (_, n) => topic.publishMessage({ data: Buffer.from(`m-${n}`) })),
      );
      const messagesWith = async (handled: boolean, times: number) => {
        const counts = new Map<string, number>();
        for (const record of await records(recordFile)) {
          if (record.handled !== handled) continue;
          const id = record.cloudEvent.data.message.messageId;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        return [...counts.values()].filter((count) => count >= times).length;
      };
      await waitFor(
        'every message to be refused five times',
        async () => (await messagesWith(false, 5)) === 20,
        30_000,
      );
      await rm(`${recordFile}.down`);
      await waitFor(
        'every message to be handled',
        async () => (await messagesWith(true, 1)) === 20,
        30_000,
      );
    } finally {
      await pubsub.close();
      await fn.stop();
      await rm(recordDir, { recursive: true, force: true });
    }
  }, 60_000);
});
