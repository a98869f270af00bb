import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

const emulatorHost = () => process.env.PUBSUB_EMULATOR_HOST!;

function client(projectId: string): PubSub {
  return emulatorClient({ projectId, emulatorHost: emulatorHost() });
}

const discardOutput = lineSink();

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

      await sleep(200);
      const deliveries = (await readFile(recordFile, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).cloudEvent.data.message);
      const bodies = deliveries.map((message) => Buffer.from(message.data, 'base64').toString());
      expect(bodies.filter((body) => body === 'poison')).toHaveLength(5);
      expect(bodies.filter((body) => body === 'fine')).toHaveLength(1);
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
      // Twenty messages pushed while their consumer is down for 5 s (as after a crash):
      // under a retry policy the emulator would stop pushing them for good.
      await writeFile(`${recordFile}.down`, '');
      const topic = pubsub.topic('order-saga');
      await Promise.all(
        Array.from({ length: 20 }, (_, n) => topic.publishMessage({ data: Buffer.from(`m-${n}`) })),
      );
      await sleep(5_000);
      await rm(`${recordFile}.down`);
      const handled = async () => {
        const lines = (await readFile(recordFile, 'utf8')).trim().split('\n');
        const after = lines.map((line) => JSON.parse(line)).filter((r) => r.handled);
        return new Set(after.map((r) => r.cloudEvent.data.message.messageId)).size;
      };
      const deadline = Date.now() + 30_000;
      while ((await handled()) < 20 && Date.now() < deadline) await sleep(250);
      expect(await handled()).toBe(20);
    } finally {
      await pubsub.close();
      await fn.stop();
      await rm(recordDir, { recursive: true, force: true });
    }
  }, 60_000);
});
