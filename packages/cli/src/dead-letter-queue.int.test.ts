import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PubSub, v1 } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, topics as declaredTopics, encodeEvent } from '@orders/events';
import { createTopology, pullMessages, testProjectId, waiterShowing } from '@orders/local-stack';
import { createPublisher, createPubSubClient, createPubSubDeadLetters } from '@orders/messaging';
import type { DeadLetter } from './dead-letter';
import {
  createPubSubDeadLetterQueue,
  type DeadLetterQueue,
  DeadLetterQueueUnavailableError,
  DeadLetterSubscriptionMissingError,
} from './dead-letter-queue';
import { runDlqCommand } from './run-dlq-command';

const run = promisify(execFile);
const emulatorHost = () => process.env.PUBSUB_EMULATOR_HOST!;
const topics = ['order-saga', 'payments', 'analytics', 'housekeeping'];

const projectId = testProjectId('dlq');
let pubsub: PubSub;
let subscriber: v1.SubscriberClient;
let queue: DeadLetterQueue;
let tmp: string;

const orderId = randomUUID();
const origin = { source: 'test', correlationId: randomUUID() };
/** Refused by payment-handler: dead-lettered by the consumer itself. */
const refused = createEvent(
  'PaymentRequested',
  { orderId, paymentId: `pay-${orderId}`, customerId: 'c', amountMinor: 500, currency: 'EUR' },
  origin,
);
/** Never acked by process-order: dead-lettered by Pub/Sub after max delivery attempts. */
const undelivered = createEvent(
  'PaymentSucceeded',
  { orderId, paymentId: `pay-${orderId}`, providerRef: 'ch_1', amountMinor: 500, currency: 'EUR' },
  origin,
);

beforeAll(async () => {
  // process-order's subscription gives up after 5 attempts here (100 by default locally).
  const sagaTopic = declaredTopics['order-saga'];
  await createTopology({
    emulatorHost: emulatorHost(),
    projectId,
    pushEndpoints: {},
    topics: {
      ...declaredTopics,
      'order-saga': {
        ...sagaTopic,
        delivery: {
          ...sagaTopic.delivery,
          minimumBackoffSeconds: 0,
          maximumBackoffSeconds: 1,
          maxDeliveryAttempts: 5,
        },
      },
    },
  });
  pubsub = createPubSubClient({ projectId, emulatorHost: emulatorHost() });
  subscriber = new v1.SubscriberClient({ ...(await pubsub.getClientConfig()) });
  for (const topic of ['order-saga', 'payments']) {
    await pubsub.topic(topic).createSubscription(`${topic}-tap`);
  }
  queue = createPubSubDeadLetterQueue({ projectId, emulatorHost: emulatorHost(), topics });
  tmp = await mkdtemp(join(tmpdir(), 'dlq-test-'));

  // 1. A consumer's own refusal, as createConsumer sends it.
  const message = encodeEvent(refused);
  await createPubSubDeadLetters(createPublisher({ projectId, emulatorHost: emulatorHost() })).send({
    topic: 'payments',
    consumer: 'payment-handler',
    reason: 'unknown version 9 of PaymentRequested',
    message: {
      data: message.data.toString('base64'),
      attributes: message.attributes,
      messageId: '4711',
    },
  });
  // 2. A message its consumer never acks: the process-order subscription (a pull
  //    subscription here, with a dead-letter policy) gives up after 5 attempts.
  const { orderingKey: _, ...unordered } = encodeEvent(undelivered);
  await pubsub.topic('order-saga').publishMessage(unordered);
  await nackUntilDeadLettered('process-order');
  // Pub/Sub moves it on its own schedule: wait until both are there.
  await waiterShowing([])(
    'both dead letters on the queue',
    async () => (await queue.list()).length >= 2,
    20_000,
  );
}, 90_000);

afterAll(async () => {
  await queue?.close();
  await subscriber?.close();
  await pubsub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Pulls and gives back every message of `subscription` until none comes any more. */
async function nackUntilDeadLettered(subscription: string) {
  const path = `projects/${projectId}/subscriptions/${subscription}`;
  const deadline = Date.now() + 45_000;
  let attempts = 0;
  while (Date.now() < deadline) {
    const [response] = await subscriber
      .pull({ subscription: path, maxMessages: 10 }, { timeout: 5_000 })
      .catch(() => [{ receivedMessages: [] }]);
    const received = response.receivedMessages ?? [];
    if (received.length === 0 && attempts >= 5) return;
    if (received.length === 0) continue;
    attempts = Math.max(attempts, ...received.map((m) => m.deliveryAttempt ?? 0));
    await subscriber.modifyAckDeadline({
      subscription: path,
      ackIds: received.map((m) => m.ackId!),
      ackDeadlineSeconds: 0,
    });
  }
  throw new Error(`${subscription} still delivers after 45 s`);
}

function output() {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  return {
    out,
    io: {
      stdout: (text: string) => out.stdout.push(text),
      stderr: (text: string) => out.stderr.push(text),
    },
  };
}

const byTopic = (letters: DeadLetter[], topic: string) =>
  letters.filter((letter) => letter.topic === topic);

describe('the dead-letter queue on the emulator', () => {
  let refusedId: string;
  let undeliveredId: string;

  it('lists both kinds of dead letters, oldest first, with who refused them and why', async () => {
    const letters = await queue.list();
    expect(letters).toHaveLength(2);
    const [first, second] = letters;
    expect(first).toMatchObject({
      topic: 'payments',
      kind: 'rejected',
      eventType: 'PaymentRequested',
      eventId: refused.id,
      correlationId: origin.correlationId,
      reason: 'unknown version 9 of PaymentRequested',
      source: 'payment-handler',
      deliveryCount: null,
      originalMessageId: '4711',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.+Z$/),
    });
    expect(second).toMatchObject({
      topic: 'order-saga',
      kind: 'undeliverable',
      eventType: 'PaymentSucceeded',
      eventId: undelivered.id,
      correlationId: origin.correlationId,
      reason: 'max delivery attempts exceeded',
      source: 'process-order',
      deliveryCount: 5,
    });
    expect(Date.parse(first!.at)).toBeLessThanOrEqual(Date.parse(second!.at));
    refusedId = first!.id;
    undeliveredId = second!.id;
  });

  it('does not consume what it lists: the messages are still there, at once', async () => {
    const again = await queue.list();
    expect(again.map((letter) => letter.id)).toEqual([refusedId, undeliveredId]);
    // Given back, not held until their ack deadline: an ordinary pull gets them now.
    const pulled = await subscriber.pull({
      subscription: `projects/${projectId}/subscriptions/payments-dlq`,
      maxMessages: 10,
      returnImmediately: true,
    });
    const received = pulled[0].receivedMessages ?? [];
    expect(received.map((m) => m.message?.messageId)).toEqual([refusedId]);
    await subscriber.modifyAckDeadline({
      subscription: `projects/${projectId}/subscriptions/payments-dlq`,
      ackIds: received.map((m) => m.ackId!),
      ackDeadlineSeconds: 0,
    });
  });

  it('shows one message whole: attributes and pretty JSON data', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'show', id: refusedId, json: false, topic: undefined },
        queue,
        io,
      ),
    ).toBe(0);
    const text = out.stdout.join('\n');
    expect(text).toMatch(/^reason\s+unknown version 9 of PaymentRequested$/m);
    expect(text).toMatch(/^source\s+payment-handler$/m);
    expect(text).toContain('  dlq_consumer=payment-handler');
    expect(text).toContain(`  event_id=${refused.id}`);
    expect(text).toContain(JSON.stringify(refused, null, 2));

    const json = output();
    await runDlqCommand(
      { command: 'show', id: undeliveredId, json: true, topic: undefined },
      queue,
      json.io,
    );
    expect(JSON.parse(json.out.stdout.join(''))).toMatchObject({
      id: undeliveredId,
      deliveryCount: 5,
      attributes: { CloudPubSubDeadLetterSourceSubscription: 'process-order' },
      data: JSON.parse(JSON.stringify(undelivered)),
      dataEncoding: 'json',
    });
    expect(await queue.list()).toHaveLength(2);
  });

  it('refuses an unknown id, and consumes nothing doing so', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'show', id: '999999', json: false, topic: undefined },
        queue,
        io,
      ),
    ).toBe(1);
    expect(out.stderr.join('')).toMatch(/no dead letter 999999/);
    const replay = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: ['999999'], topic: undefined },
        queue,
        replay.io,
      ),
    ).toBe(1);
    expect(await queue.list()).toHaveLength(2);
  });

  it('replays one message to its original topic without the dead-letter attributes, then removes it', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand({ command: 'replay', ids: [refusedId], topic: undefined }, queue, io),
    ).toBe(0);
    expect(out.stdout.join('\n')).toMatch(
      new RegExp(
        `replayed ${refusedId} \\(PaymentRequested ${refused.id}\\) to payments as message \\S+`,
      ),
    );

    const [replayed] = await pullMessages(pubsub, 'payments-tap', { count: 1 });
    expect(replayed?.data.toString()).toBe(JSON.stringify(refused));
    expect(replayed?.attributes).toEqual(encodeEvent(refused).attributes);

    const left = await queue.list();
    expect(left.map((letter) => letter.id)).toEqual([undeliveredId]);
    expect(byTopic(left, 'payments')).toEqual([]);
  });

  it('replays everything with --all --yes', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: 'all', topic: undefined, yes: true },
        queue,
        io,
      ),
    ).toBe(0);
    expect(out.stdout.at(-1)).toBe('replayed 1 of 1 dead letter');

    const [replayed] = await pullMessages(pubsub, 'order-saga-tap', { count: 1 });
    expect(JSON.parse(replayed!.data.toString())).toEqual(JSON.parse(JSON.stringify(undelivered)));
    expect(replayed?.attributes).toEqual(encodeEvent(undelivered).attributes);
    expect(await queue.list()).toEqual([]);
    // Nothing else reached the original topics.
    expect(await pullMessages(pubsub, 'payments-tap', { count: 1, timeoutMs: 500 })).toEqual([]);
  });
});

describe('replaying only what its topic may carry', () => {
  const project = testProjectId('dlq-verify');
  let client: PubSub;
  let verifying: DeadLetterQueue;
  const ids: Record<string, string> = {};
  const orderOf = randomUUID();
  const origin2 = { source: 'payment-handler', correlationId: randomUUID() };
  const good = createEvent(
    'PaymentSucceeded',
    {
      orderId: orderOf,
      paymentId: `pay_${orderOf}`,
      providerRef: 'ch_2',
      amountMinor: 700,
      currency: 'EUR',
    },
    origin2,
  );
  const elsewhere = createEvent(
    'OrderConfirmed',
    { orderId: orderOf, totalMinor: 700, currency: 'EUR' },
    { source: 'process-order', correlationId: origin2.correlationId },
  );
  const invalid = { ...good, id: randomUUID(), data: { ...good.data, amountMinor: -7 } };
  const hostile = '\x1b[2J\x1b]0;owned\x07\x9b1;1H';

  beforeAll(async () => {
    await createTopology({ emulatorHost: emulatorHost(), projectId: project, pushEndpoints: {} });
    client = createPubSubClient({ projectId: project, emulatorHost: emulatorHost() });
    await client.topic('order-saga').createSubscription('order-saga-tap');
    verifying = createPubSubDeadLetterQueue({
      projectId: project,
      emulatorHost: emulatorHost(),
      topics: ['order-saga'],
    });
    const deadLetters = createPubSubDeadLetters(
      createPublisher({ projectId: project, emulatorHost: emulatorHost() }),
    );
    const send = async (name: string, data: Buffer, attributes: Record<string, string>) => {
      await deadLetters.send({
        topic: 'order-saga',
        consumer: 'process-order',
        reason: `${name} refused ${hostile}`,
        message: { data: data.toString('base64'), attributes, messageId: name },
      });
    };
    await send('good', encodeEvent(good).data, encodeEvent(good).attributes);
    await send('elsewhere', encodeEvent(elsewhere).data, encodeEvent(elsewhere).attributes);
    await send('invalid', Buffer.from(JSON.stringify(invalid)), {
      ...encodeEvent(good).attributes,
      event_id: invalid.id,
    });
    await waiterShowing([])(
      'three dead letters',
      async () => (await verifying.list()).length >= 3,
      20_000,
    );
    for (const letter of await verifying.list()) {
      ids[letter.originalMessageId!] = letter.id;
    }
  }, 60_000);
  afterAll(async () => {
    await verifying?.close();
    await client?.close();
  });

  it('lists and shows them without the terminal controls they carry', async () => {
    const list = output();
    expect(
      await runDlqCommand({ command: 'list', json: false, topic: undefined }, verifying, list.io),
    ).toBe(0);
    const show = output();
    expect(
      await runDlqCommand(
        { command: 'show', id: ids.good!, json: false, topic: undefined },
        verifying,
        show.io,
      ),
    ).toBe(0);
    const json = output();
    await runDlqCommand({ command: 'list', json: true, topic: undefined }, verifying, json.io);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
    const controls = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
    for (const text of [...list.out.stdout, ...show.out.stdout, ...json.out.stdout]) {
      expect(text).not.toMatch(controls);
    }
    expect(list.out.stdout.join('\n')).toMatch(/good refused\s*$/m);
    expect(show.out.stdout.join('\n')).toMatch(/^reason\s+good refused\s*$/m);
    // JSON keeps them, escaped.
    expect(JSON.parse(json.out.stdout.join(''))).toContainEqual(
      expect.objectContaining({ reason: `good refused ${hostile}` }),
    );
  });

  it('--all shows what it would replay and what it would refuse, and replays nothing without --yes', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: 'all', topic: undefined, yes: false },
        verifying,
        io,
      ),
    ).toBe(0);
    expect(out.stdout).toEqual(
      expect.arrayContaining([
        `would replay ${ids.good} (PaymentSucceeded ${good.id}) to order-saga`,
        `would refuse ${ids.elsewhere} (OrderConfirmed ${elsewhere.id}): OrderConfirmed is not routed to order-saga (its topics: analytics)`,
        expect.stringMatching(
          new RegExp(
            `^would refuse ${ids.invalid} \\(PaymentSucceeded ${invalid.id}\\): not a valid event: PaymentSucceeded v1 data: data\\.amountMinor`,
          ),
        ),
      ]),
    );
    expect(out.stdout.at(-1)).toBe(
      'nothing replayed: 1 of 3 dead letters would be; `replay --all --yes` replays them',
    );
    expect(await verifying.list()).toHaveLength(3);
    expect(await pullMessages(client, 'order-saga-tap', { count: 1, timeoutMs: 500 })).toEqual([]);
  });

  it('refuses to replay an event its topic does not route, or an invalid one, and keeps them', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: [ids.elsewhere!, ids.invalid!], topic: undefined },
        verifying,
        io,
      ),
    ).toBe(1);
    expect(out.stderr).toEqual([
      `could not replay ${ids.elsewhere} (OrderConfirmed ${elsewhere.id}): refused: OrderConfirmed is not routed to order-saga (its topics: analytics)`,
      expect.stringMatching(
        /^could not replay .*: refused: not a valid event: PaymentSucceeded v1 data/,
      ),
    ]);
    expect(out.stdout.at(-1)).toBe('replayed 0 of 2 dead letters');
    expect(await verifying.list()).toHaveLength(3);
    expect(await pullMessages(client, 'order-saga-tap', { count: 1, timeoutMs: 500 })).toEqual([]);
  });

  it('validates a --data body too: an event not routed there is refused, a valid fix goes', async () => {
    const wrongFix = join(tmp, 'wrong-fix.json');
    await writeFile(wrongFix, JSON.stringify(elsewhere));
    const refused = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: [ids.invalid!], topic: undefined, data: wrongFix },
        verifying,
        refused.io,
      ),
    ).toBe(1);
    expect(refused.out.stderr.join('')).toContain(
      'refused: OrderConfirmed is not routed to order-saga',
    );

    const fix = join(tmp, 'fix.json');
    const fixed = { ...invalid, data: good.data };
    await writeFile(fix, JSON.stringify(fixed));
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: [ids.invalid!], topic: undefined, data: fix },
        verifying,
        io,
      ),
    ).toBe(0);
    const [replayed] = await pullMessages(client, 'order-saga-tap', { count: 1 });
    expect(JSON.parse(replayed!.data.toString())).toEqual(fixed);
    expect(out.stdout.at(-1)).toBe('replayed 1 of 1 dead letter');
  });

  it('--all --yes replays what may go, and leaves what it refuses on the DLQ', async () => {
    const { out, io } = output();
    expect(
      await runDlqCommand(
        { command: 'replay', ids: 'all', topic: undefined, yes: true },
        verifying,
        io,
      ),
    ).toBe(1);
    expect(out.stdout.at(-1)).toBe('replayed 1 of 2 dead letters');
    const [replayed] = await pullMessages(client, 'order-saga-tap', { count: 1 });
    expect(replayed?.attributes.event_id).toBe(good.id);
    expect((await verifying.list()).map((letter) => letter.id)).toEqual([ids.elsewhere]);
  });
});

describe('a listing of many dead letters', () => {
  it('holds every message even when one pull cannot carry them all, and keeps them', async () => {
    const project = testProjectId('dlq-many');
    await createTopology({ emulatorHost: emulatorHost(), projectId: project, pushEndpoints: {} });
    const client = createPubSubClient({ projectId: project, emulatorHost: emulatorHost() });
    const many = createPubSubDeadLetterQueue({
      projectId: project,
      emulatorHost: emulatorHost(),
      topics: ['analytics'],
    });
    try {
      const topic = client.topic('analytics-dlq', { batching: { maxMessages: 500 } });
      await Promise.all(
        Array.from({ length: 1300 }, (_, i) =>
          topic.publishMessage({
            data: Buffer.from(`{"n":${i}}`),
            attributes: { dlq_reason: 'r' },
          }),
        ),
      );
      const first = await many.list();
      expect(first).toHaveLength(1300);
      expect(new Set(first.map((letter) => letter.id)).size).toBe(1300);
      const second = await many.list();
      expect(second.map((letter) => letter.id).sort()).toEqual(
        first.map((letter) => letter.id).sort(),
      );
    } finally {
      await many.close();
      await client.close();
    }
  });
});

describe('a Pub/Sub that cannot be reached', () => {
  it('is an error after a few attempts, never an empty listing', async () => {
    const unreachable = createPubSubDeadLetterQueue({
      projectId,
      emulatorHost: '127.0.0.1:9',
      topics: ['payments'],
    });
    try {
      const started = Date.now();
      await expect(unreachable.list()).rejects.toThrow(DeadLetterQueueUnavailableError);
      await expect(unreachable.list()).rejects.toThrow(
        /cannot read the dead-letter subscriptions of project .* on the emulator at 127\.0\.0\.1:9: 14 UNAVAILABLE/,
      );
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await unreachable.close();
    }
  });
});

describe('a project without the topology', () => {
  it('says which DLQ subscriptions are missing', async () => {
    const empty = createPubSubDeadLetterQueue({
      projectId: testProjectId('dlq-none'),
      emulatorHost: emulatorHost(),
      topics: ['payments', 'analytics'],
    });
    try {
      await expect(empty.list()).rejects.toThrow(DeadLetterSubscriptionMissingError);
      await expect(empty.list()).rejects.toThrow(
        /no subscription payments-dlq, analytics-dlq in project dlq-none-/,
      );
    } finally {
      await empty.close();
    }
  });
});

describe('pnpm dlq (dist/dlq.js)', () => {
  const cli = join(__dirname, '..', 'dist', 'dlq.js');
  const exec = async (args: string[], env: NodeJS.ProcessEnv) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('finds the stack in the dev stack file, and lets the environment override it', async () => {
    const project = testProjectId('dlq-cli');
    await createTopology({ emulatorHost: emulatorHost(), projectId: project, pushEndpoints: {} });
    const client = createPubSubClient({ projectId: project, emulatorHost: emulatorHost() });
    const messageId = await client
      .topic('housekeeping-dlq')
      .publishMessage({ data: Buffer.from('tick'), attributes: { dlq_reason: 'bad tick' } });
    await client.close();

    const stackFile = join(tmp, 'dev-stack.json');
    await writeFile(
      stackFile,
      JSON.stringify({
        ready: true,
        databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres',
        pubsubEmulatorHost: emulatorHost(),
        projectId: project,
        functions: { 'place-order': 'http://127.0.0.1:1' },
      }),
    );
    const fromFile = await exec(['list', '--json'], { DEV_STACK_FILE: stackFile });
    expect(fromFile.code).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toMatchObject([
      {
        id: messageId,
        topic: 'housekeeping',
        reason: 'bad tick',
        data: 'tick',
        dataEncoding: 'text',
      },
    ]);
    expect(fromFile.stderr).toContain(
      `dlq: project ${project} on the emulator at ${emulatorHost()}`,
    );

    const overridden = await exec(['list'], {
      DEV_STACK_FILE: stackFile,
      GOOGLE_CLOUD_PROJECT: projectId,
    });
    expect(overridden).toMatchObject({ code: 0, stdout: 'no dead letters\n' });

    const table = await exec(['list', '--topic', 'housekeeping'], {
      PUBSUB_EMULATOR_HOST: emulatorHost(),
      GOOGLE_CLOUD_PROJECT: project,
      DEV_STACK_FILE: join(tmp, 'none.json'),
    });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${messageId}\\s+housekeeping\\s+.*bad tick$`, 'm'));
  });

  it('exits 1 without a stack to read, and 2 on a usage error', async () => {
    const none = await exec(['list'], { DEV_STACK_FILE: join(tmp, 'none.json') });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no stack to read: .*none\.json does not exist/);
    expect(none.stdout).toBe('');

    const usage = await exec(['list', '--everything'], {});
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown option --everything[\s\S]*usage: pnpm dlq/);
  });
});
