import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pullMessages, testProjectId } from '@orders/local-stack';
import { createPublisher, PublishError } from './publisher';
import { createPubSubClient } from './pubsub-client';

const projectId = testProjectId('publisher');
const emulatorHost = () => process.env.PUBSUB_EMULATOR_HOST!;
let pubsub: PubSub;

beforeAll(async () => {
  pubsub = createPubSubClient({ projectId, emulatorHost: emulatorHost() });
  const [topic] = await pubsub.createTopic('publisher-test');
  await topic.createSubscription('publisher-test-tap');
});
afterAll(() => pubsub?.close());

/**
 * An HTTP server in front of the emulator that counts publish calls and their messages, and
 * answers the first `refuse` calls itself with `status`.
 */
async function countingProxy({ refuse = 0, status = 503 } = {}) {
  const calls: number[] = [];
  const authorizations: (string | undefined)[] = [];
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    authorizations.push(request.headers.authorization);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    calls.push((JSON.parse(body.toString()) as { messages: unknown[] }).messages.length);
    if (calls.length <= refuse) {
      response.writeHead(status, { 'content-type': 'application/json' }).end('{"error":{}}');
      return;
    }
    const forwarded = await fetch(`http://${emulatorHost()}${request.url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    response.writeHead(forwarded.status, { 'content-type': 'application/json' });
    response.end(await forwarded.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    calls,
    authorizations,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const message = (text: string, orderingKey?: string) => ({
  data: Buffer.from(text),
  attributes: { text },
  orderingKey,
});

describe('createPublisher', () => {
  it('publishes data, attributes and ordering key through the REST API', async () => {
    const key = randomUUID();
    await createPublisher({ projectId, emulatorHost: emulatorHost() }).publish(
      'publisher-test',
      message('hello', key),
    );
    const [received] = await pullMessages(pubsub, 'publisher-test-tap', { count: 1 });
    expect(received?.data.toString()).toBe('hello');
    expect(received?.attributes).toEqual({ text: 'hello' });
    expect(received?.orderingKey).toBe(key);
  });

  it('sends concurrent publishes together: one call in flight per topic, the rest in the next', async () => {
    const proxy = await countingProxy();
    try {
      const publisher = createPublisher({ projectId, emulatorHost: proxy.host });
      const texts = Array.from({ length: 200 }, (_, i) => `m${i}`);
      await Promise.all(
        texts.map((text) => publisher.publish('publisher-test', message(text, text))),
      );

      expect(proxy.calls.reduce((sum, n) => sum + n, 0)).toBe(200);
      expect(proxy.calls[0]).toBe(1);
      expect(proxy.calls.length).toBeLessThanOrEqual(3);
      const received = await pullMessages(pubsub, 'publisher-test-tap', { count: 200 });
      expect(received.map((m) => m.data.toString()).sort()).toEqual(texts.toSorted());
    } finally {
      await proxy.close();
    }
  });

  it('sends the headers that `authorize` gives with every call', async () => {
    const proxy = await countingProxy({ refuse: 1 });
    try {
      let issued = 0;
      const authorize = async () => ({ authorization: `Bearer token-${++issued}` });
      await createPublisher({ projectId, emulatorHost: proxy.host }, { authorize }).publish(
        'publisher-test',
        message('authorized'),
      );
      expect(proxy.authorizations).toEqual(['Bearer token-1', 'Bearer token-2']);
      await pullMessages(pubsub, 'publisher-test-tap', { count: 1 });
    } finally {
      await proxy.close();
    }
  });

  it('calls again after an answer that says "later", and succeeds', async () => {
    const proxy = await countingProxy({ refuse: 1, status: 503 });
    try {
      await createPublisher({ projectId, emulatorHost: proxy.host }).publish(
        'publisher-test',
        message('after 503'),
      );
      expect(proxy.calls).toEqual([1, 1]);
      const [received] = await pullMessages(pubsub, 'publisher-test-tap', { count: 1 });
      expect(received?.data.toString()).toBe('after 503');
    } finally {
      await proxy.close();
    }
  });

  it('fails at once, with the status, on an answer that will not change', async () => {
    const proxy = await countingProxy();
    try {
      const failure = await createPublisher({ projectId, emulatorHost: proxy.host })
        .publish('no-such-topic', message('lost'))
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(PublishError);
      expect(failure).toMatchObject({ status: 404, topic: 'no-such-topic', transient: false });
      expect(proxy.calls).toEqual([1]);
    } finally {
      await proxy.close();
    }
  });

  it('refuses, before any call, attributes over the limits Pub/Sub enforces (the emulator does not)', async () => {
    const proxy = await countingProxy();
    try {
      const publisher = createPublisher({ projectId, emulatorHost: proxy.host });
      const refusal = (attributes: Record<string, string>) =>
        publisher
          .publish('publisher-test', { data: Buffer.from('x'), attributes })
          .catch((error: unknown) => error);
      const manyAttributes = (count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v']));

      // 1000 characters, but 2000 bytes of UTF-8: Pub/Sub counts bytes.
      const tooLongValue = await refusal({ reason: 'é'.repeat(1000) });
      const tooLongKey = await refusal({ ['k'.repeat(257)]: 'v' });
      const tooMany = await refusal(manyAttributes(101));
      for (const failure of [tooLongValue, tooLongKey, tooMany]) {
        expect(failure).toBeInstanceOf(PublishError);
        expect(failure).toMatchObject({ status: 400, topic: 'publisher-test', transient: false });
      }
      expect((tooLongValue as Error).message).toMatch(
        /attribute reason: value of 2000 bytes \(Pub\/Sub allows 1024\)/,
      );
      expect((tooLongKey as Error).message).toMatch(/key of 257 bytes \(Pub\/Sub allows 256\)/);
      expect((tooMany as Error).message).toMatch(/101 attributes \(Pub\/Sub allows 100\)/);
      expect(proxy.calls).toEqual([]);

      // At the limits, everything goes through.
      await publisher.publish('publisher-test', {
        data: Buffer.from('at the limits'),
        attributes: { ...manyAttributes(98), value: 'é'.repeat(512), ['k'.repeat(256)]: 'v' },
      });
      const [received] = await pullMessages(pubsub, 'publisher-test-tap', { count: 1 });
      expect(received?.data.toString()).toBe('at the limits');
      expect(received?.attributes.value).toBe('é'.repeat(512));
      expect(Object.keys(received?.attributes ?? {})).toHaveLength(100);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after its attempts when nothing answers', async () => {
    const proxy = await countingProxy();
    await proxy.close();
    const failure = await createPublisher({ projectId, emulatorHost: proxy.host }, { attempts: 2 })
      .publish('publisher-test', message('nowhere'))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PublishError);
    expect(failure).toMatchObject({ status: undefined, transient: true });
  });
});
