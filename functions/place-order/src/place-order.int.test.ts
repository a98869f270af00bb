import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createTopology,
  type DevIssuer,
  pullMessages,
  type ServedFunction,
  serveFunction,
  signDevToken,
  skewProcessClock,
  startDevIssuer,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import { sql } from 'kysely';

// The function reads its config from the environment at load, as on Cloud Run.
const projectId = testProjectId('place-order');
let database: TestDatabase;
let databaseLink: TcpProxy;
let pubsub: PubSub;
let served: ServedFunction;
let baseUrl: string;
let issuer: DevIssuer;
/** Open orders one customer may have: the cap test fills a customer's up to it. */
const maxOpenOrders = 1000;

beforeAll(async () => {
  database = await testDatabase('place-order');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  for (const topic of ['order-saga', 'analytics', 'payments']) {
    await pubsub.topic(topic).createSubscription(`${topic}-tap`);
  }
  // The function reaches its database through a link the outage test can cut.
  const url = new URL(database.url);
  databaseLink = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
  url.port = String(databaseLink.port);
  issuer = await startDevIssuer({ audience: projectId });
  Object.assign(process.env, {
    DATABASE_URL: url.toString(),
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    IDEMPOTENCY_LOCK_SECONDS: '2',
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    AUTH_JWKS_URL: issuer.jwksUrl,
    MAX_OPEN_ORDERS_PER_CUSTOMER: String(maxOpenOrders),
  });
  require('./index');
  served = await serveFunction('placeOrder', { projectId });
  baseUrl = served.url;
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await databaseLink?.close();
  await issuer?.stop();
  await database?.close();
});

const order = {
  customerId: 'cust-42',
  currency: 'EUR',
  items: [
    { sku: 'TEA-001', quantity: 2 },
    { sku: 'MUG-001', quantity: 1 },
  ],
};

/** `Authorization` for `customerId`: a fresh token of the test's issuer. */
async function as(customerId: string) {
  return { authorization: `Bearer ${await issuer.token(customerId)}` };
}

/**
 * `POST /orders` as the customer the body names (cust-42 when it names none), unless
 * `headers` say otherwise (`authorization: ''` sends none).
 */
async function post(body: unknown, headers: Record<string, string> = {}) {
  const named = (body as { customerId?: unknown } | null)?.customerId;
  const response = await fetch(`${baseUrl}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(await as(typeof named === 'string' && named.length <= 128 ? named : 'cust-42')),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return answerOf(response);
}

async function get(path: string, customerId = 'cust-42') {
  return answerOf(await fetch(`${baseUrl}${path}`, { headers: await as(customerId) }));
}

async function answerOf(response: Response) {
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: text ? JSON.parse(text) : undefined,
  };
}

async function rowCounts() {
  const { rows } = await sql<{ orders: number; items: number; outbox: number; keys: number }>`
    select (select count(*)::int from orders) as orders,
           (select count(*)::int from order_items) as items,
           (select count(*)::int from outbox) as outbox,
           (select count(*)::int from idempotency_keys) as keys`.execute(database.db);
  return rows[0]!;
}

describe('POST /orders', () => {
  it('accepts an order, prices it from the catalog and publishes OrderPlaced to order-saga and analytics', async () => {
    const response = await post(order);

    expect(response.status).toBe(202);
    const { orderId, correlationId } = response.json;
    expect(response.json).toEqual({ orderId, status: 'PLACED', correlationId });
    expect(response.headers.get('location')).toBe(`/orders/${orderId}`);
    expect(response.headers.get('x-correlation-id')).toBe(correlationId);

    const stored = await database.db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      status: 'PLACED',
      total_minor: 2 * 1299 + 1850,
      currency: 'EUR',
      correlation_id: correlationId,
    });

    for (const topic of ['order-saga', 'analytics']) {
      const [message] = await pullMessages(pubsub, `${topic}-tap`, { count: 1 });
      expect(message?.attributes).toEqual({
        event_type: 'OrderPlaced',
        event_version: '2',
        event_id: expect.any(String),
        correlation_id: correlationId,
        // The request's trace, which the order's every later hop continues.
        googclient_traceparent: expect.stringMatching(/^00-[\da-f]{32}-[\da-f]{16}-0[01]$/),
      });
      const event = JSON.parse(message!.data.toString());
      expect(event).toEqual({
        id: message!.attributes.event_id,
        type: 'OrderPlaced',
        version: 2,
        source: 'place-order',
        occurredAt: expect.stringMatching(/Z$/),
        correlationId,
        causationId: null,
        subject: orderId,
        data: {
          orderId,
          customerId: 'cust-42',
          currency: 'EUR',
          items: [
            { sku: 'TEA-001', quantity: 2, unitPriceMinor: 1299 },
            { sku: 'MUG-001', quantity: 1, unitPriceMinor: 1850 },
          ],
          totalMinor: 4448,
        },
      });
    }
    expect(await pullMessages(pubsub, 'payments-tap', { count: 1, timeoutMs: 500 })).toEqual([]);
    const outbox = await database.db.selectFrom('outbox').select('sent_at').execute();
    expect(outbox.every((row) => row.sent_at !== null)).toBe(true);
  });

  it('ignores prices sent by the client: they are unknown fields', async () => {
    const response = await post({
      ...order,
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1 }],
    });
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual([
      { pointer: '/items/0/unitPriceMinor', detail: 'unknown field' },
    ]);
  });

  describe('refuses bad input with problem+json naming the field, and writes nothing', () => {
    const cases: [string, unknown, string[]][] = [
      ['an unknown field', { ...order, coupon: 'FREE' }, ['/coupon']],
      ['an unknown sku', { ...order, items: [{ sku: 'NOPE-1', quantity: 1 }] }, ['/items/0/sku']],
      [
        'a zero quantity',
        { ...order, items: [{ sku: 'TEA-001', quantity: 0 }] },
        ['/items/0/quantity'],
      ],
      [
        'a fractional quantity',
        { ...order, items: [{ sku: 'TEA-001', quantity: 1.5 }] },
        ['/items/0/quantity'],
      ],
      [
        'a string quantity',
        { ...order, items: [{ sku: 'TEA-001', quantity: '1' }] },
        ['/items/0/quantity'],
      ],
      [
        'too many items',
        {
          ...order,
          items: Array.from({ length: 21 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1 })),
        },
        ['/items'],
      ],
      [
        'duplicate skus',
        {
          ...order,
          items: [
            { sku: 'TEA-001', quantity: 1 },
            { sku: 'TEA-001', quantity: 2 },
          ],
        },
        ['/items/1/sku'],
      ],
      ['a wrong type', { ...order, customerId: 12 }, ['/customerId']],
      ['a missing field', { customerId: 'c', items: order.items }, ['/currency']],
      ['a currency the catalog does not price in', { ...order, currency: 'USD' }, ['/currency']],
      ['an array body', [order], ['']],
    ];

    it.each(cases)('%s', async (_label, body, pointers) => {
      const before = await rowCounts();
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json).toMatchObject({ status: 400, code: 'validation_failed' });
      expect(response.json.errors.map((e: { pointer: string }) => e.pointer)).toEqual(pointers);
      expect(await rowCounts()).toEqual(before);
    });

    it('malformed JSON: 400', async () => {
      const before = await rowCounts();
      const response = await post('{"customerId": "c",');
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json).toMatchObject({ code: 'malformed_json' });
      expect(response.text).not.toMatch(/SyntaxError|at JSON\.parse|node_modules/);
      expect(await rowCounts()).toEqual(before);
    });

    it('a body over 64 KiB: 413', async () => {
      const before = await rowCounts();
      const response = await post({ ...order, customerId: 'x'.repeat(70 * 1024) });
      expect(response.status).toBe(413);
      expect(response.json).toMatchObject({ status: 413, code: 'payload_too_large' });
      expect(await rowCounts()).toEqual(before);
    });

    it('a content type that is not JSON: 415', async () => {
      const before = await rowCounts();
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        const response = await post(JSON.stringify(order), { 'content-type': type });
        expect(response.status).toBe(415);
        expect(response.json).toMatchObject({ status: 415, code: 'unsupported_media_type' });
      }
      expect(await rowCounts()).toEqual(before);
    });

    it('an Idempotency-Key that is too long: 400 naming the header', async () => {
      const response = await post(order, { 'idempotency-key': 'k'.repeat(256) });
      expect(response.status).toBe(400);
      expect(response.json.errors).toEqual([
        { header: 'Idempotency-Key', detail: expect.any(String) },
      ]);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the same response for the same key and body, with one order', async () => {
      const key = `key-${Date.now()}`;
      const before = await rowCounts();
      const first = await post(order, { 'idempotency-key': key });
      const second = await post(order, { 'idempotency-key': key });

      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.text).toBe(first.text);
      expect(second.headers.get('location')).toBe(first.headers.get('location'));
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      const after = await rowCounts();
      expect(after.orders).toBe(before.orders + 1);
    });

    it('refuses the same key with another body: 422', async () => {
      const key = `key-other-${Date.now()}`;
      expect((await post(order, { 'idempotency-key': key })).status).toBe(202);
      const response = await post(
        { ...order, items: [{ sku: 'TEA-001', quantity: 3 }] },
        { 'idempotency-key': key },
      );
      expect(response.status).toBe(422);
      expect(response.json).toMatchObject({ code: 'idempotency_key_reused' });
    });

    it('lets concurrent requests with one key make one order; the others replay it or get 409', async () => {
      const key = `key-race-${Date.now()}`;
      const before = await rowCounts();
      const responses = await Promise.all(
        Array.from({ length: 8 }, () => post(order, { 'idempotency-key': key })),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.every((status) => status === 202 || status === 409)).toBe(true);
      expect(
        new Set(responses.filter((r) => r.status === 202).map((r) => r.json.orderId)).size,
      ).toBe(1);
      for (const conflict of responses.filter((r) => r.status === 409)) {
        expect(conflict.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      expect((await rowCounts()).orders).toBe(before.orders + 1);
    });

    it('does not store a refused request: the key stays free', async () => {
      const key = `key-free-${Date.now()}`;
      expect(
        (
          await post(
            { ...order, items: [{ sku: 'NOPE-1', quantity: 1 }] },
            { 'idempotency-key': key },
          )
        ).status,
      ).toBe(400);
      expect((await post(order, { 'idempotency-key': key })).status).toBe(202);
    });
  });
});

describe('GET /orders/{id}', () => {
  it('returns the order, its items and status', async () => {
    const { json } = await post(order);
    const response = await get(`/orders/${json.orderId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.json).toEqual({
      orderId: json.orderId,
      customerId: 'cust-42',
      status: 'PLACED',
      cancelReason: null,
      currency: 'EUR',
      totalMinor: 4448,
      items: [
        { sku: 'MUG-001', quantity: 1, unitPriceMinor: 1850 },
        { sku: 'TEA-001', quantity: 2, unitPriceMinor: 1299 },
      ],
      correlationId: json.correlationId,
      createdAt: expect.stringMatching(/Z$/),
      updatedAt: expect.stringMatching(/Z$/),
    });
  });

  it.each(['00000000-0000-4000-8000-000000000000', 'not-a-uuid'])(
    'answers 404 for %s',
    async (id) => {
      const response = await get(`/orders/${id}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json).toMatchObject({ status: 404, code: 'not_found' });
    },
  );
});

describe('who may do what', () => {
  const signed = (subject: string, claims: { audience?: string; issuer?: string; ttl?: number }) =>
    signDevToken(
      {
        ...issuer,
        audience: claims.audience ?? issuer.audience,
        issuer: claims.issuer ?? issuer.issuer,
      },
      subject,
      { expiresInSeconds: claims.ttl ?? 600 },
    );

  describe('a request without a valid token: 401 with WWW-Authenticate, nothing written', () => {
    const header = (token: string) => ({ authorization: `Bearer ${token}` });
    const cases: [string, () => Promise<Record<string, string>>, RegExp][] = [
      ['no Authorization header', async () => ({ authorization: '' }), /^Bearer realm="orders"$/],
      [
        'another scheme',
        async () => ({ authorization: 'Basic Y3VzdC00Mjpwdw==' }),
        /error="invalid_request"/,
      ],
      ['a token that is not a JWT', async () => header('not.a.jwt'), /error="invalid_token"/],
      [
        'an expired token',
        async () => header(await signed('cust-42', { ttl: -60 })),
        /error="invalid_token", error_description="the token has expired"/,
      ],
      [
        'a token for another audience',
        async () => header(await signed('cust-42', { audience: 'another-app' })),
        /another audience/,
      ],
      [
        'a token from another issuer',
        async () => header(await signed('cust-42', { issuer: 'https://evil.example' })),
        /another issuer/,
      ],
      [
        "a token signed with a key that is not the issuer's (same kid)",
        async () => {
          const impostor = await startDevIssuer({ audience: issuer.audience });
          await impostor.stop();
          const privateJwk = { ...impostor.privateJwk, kid: issuer.privateJwk.kid };
          return header(await signDevToken({ ...issuer, privateJwk }, 'cust-42'));
        },
        /not signed by one of the issuer's keys/,
      ],
      [
        'an unsigned token (alg none)',
        async () => {
          const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
          const now = Math.floor(Date.now() / 1000);
          const claims = {
            iss: issuer.issuer,
            aud: issuer.audience,
            sub: 'cust-42',
            iat: now,
            exp: now + 600,
          };
          return header(`${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`);
        },
        /error="invalid_token"/,
      ],
    ];

    it.each(cases)('%s', async (_label, headers, challenge) => {
      const before = await rowCounts();
      for (const response of [
        await post(order, { ...(await headers()), 'idempotency-key': `key-401-${Date.now()}` }),
        answerOf(await fetch(`${baseUrl}/orders/${randomUUID()}`, { headers: await headers() })),
      ]) {
        const { status, headers: got, json } = await response;
        expect(status).toBe(401);
        expect(got.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(got.get('www-authenticate')).toMatch(challenge);
        expect(json).toMatchObject({ status: 401, title: 'Unauthorized' });
      }
      expect(await rowCounts()).toEqual(before);
    });
  });

  it('charges the caller only: a body naming another customer is refused (403), nothing written', async () => {
    const before = await rowCounts();
    const response = await post({ ...order, customerId: 'cust-victim' }, await as('cust-42'));
    expect(response.status).toBe(403);
    expect(response.json).toMatchObject({
      code: 'customer_mismatch',
      errors: [{ pointer: '/customerId', detail: expect.any(String) }],
    });
    expect(await rowCounts()).toEqual(before);

    const { customerId: _, ...anonymous } = order;
    const placed = await post(anonymous, await as('cust-7'));
    expect(placed.status).toBe(202);
    expect((await get(`/orders/${placed.json.orderId}`, 'cust-7')).json.customerId).toBe('cust-7');
  });

  it("shows an order to its owner only: anyone else gets the unknown order's 404", async () => {
    const { json } = await post(order);
    const mine = await get(`/orders/${json.orderId}`);
    const theirs = await get(`/orders/${json.orderId}`, 'cust-snoop');
    const unknown = await get(`/orders/${randomUUID()}`, 'cust-snoop');
    expect(mine.status).toBe(200);
    expect(theirs.status).toBe(404);
    expect(theirs.headers.get('cache-control')).toBe(unknown.headers.get('cache-control'));
    expect(theirs.json).toEqual({ ...unknown.json, detail: `no order ${json.orderId}` });
    expect(theirs.text).not.toContain('cust-42');
  });

  it('scopes Idempotency-Keys per caller: another caller can neither replay, probe nor squat one', async () => {
    const key = `key-shared-${Date.now()}`;
    const { customerId: _, ...body } = order;
    const first = await post(body, { ...(await as('cust-a')), 'idempotency-key': key });
    expect(first.status).toBe(202);

    // Replay: the same key and body from another caller is that caller's own new order.
    const other = await post(body, { ...(await as('cust-b')), 'idempotency-key': key });
    expect(other.status).toBe(202);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(other.json.orderId).not.toBe(first.json.orderId);
    // Probe: another body under that key tells another caller nothing (no 422).
    const probe = await post(
      { ...body, items: [{ sku: 'TEA-002', quantity: 1 }] },
      { ...(await as('cust-c')), 'idempotency-key': key },
    );
    expect(probe.status).toBe(202);
    // Squat: the owner's key still replays the owner's first answer.
    const again = await post(body, { ...(await as('cust-a')), 'idempotency-key': key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);

    // A key taken first by someone else is still free for its caller.
    const late = `key-squat-${Date.now()}`;
    expect(
      (await post(body, { ...(await as('cust-squatter')), 'idempotency-key': late })).status,
    ).toBe(202);
    const owner = await post(
      { ...body, items: [{ sku: 'MUG-001', quantity: 2 }] },
      { ...(await as('cust-owner')), 'idempotency-key': late },
    );
    expect(owner.status).toBe(202);
    expect(owner.headers.get('idempotent-replayed')).toBeNull();
  });

  it('caps open orders per customer: 429 with Retry-After, nothing written; final orders do not count', async () => {
    const customerId = `cust-busy-${Date.now()}`;
    await sql`
      insert into orders (id, customer_id, currency, total_minor, status, correlation_id)
      select gen_random_uuid(), ${customerId}, 'EUR', 100,
        case when n % 2 = 0 then 'PLACED' else 'AWAITING_PAYMENT' end,
        gen_random_uuid()
      from generate_series(1, ${maxOpenOrders}) as n`.execute(database.db);
    const before = await rowCounts();
    const refused = await post({ ...order, customerId });
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ status: 429, code: 'too_many_open_orders' });
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(await rowCounts()).toEqual(before);

    await sql`
      update orders set status = 'CONFIRMED'
      where id = (select id from orders where customer_id = ${customerId} limit 1)`.execute(
      database.db,
    );
    expect((await post({ ...order, customerId })).status).toBe(202);
  });

  it("behind a gateway: takes the user's token it forwards (X-Forwarded-Authorization), verified alike", async () => {
    const { customerId: _, ...body } = order;
    // The gateway's own Google token is in Authorization; the user's is forwarded.
    const gateway = { authorization: 'Bearer eyJnYXRld2F5IjoidG9rZW4ifQ.e30.c2ln' };
    const forwarded = await post(body, {
      ...gateway,
      'x-forwarded-authorization': `Bearer ${await issuer.token('cust-behind-gateway')}`,
    });
    expect(forwarded.status).toBe(202);
    const shown = await get(`/orders/${forwarded.json.orderId}`, 'cust-behind-gateway');
    expect(shown.json.customerId).toBe('cust-behind-gateway');
    const forged = await post(body, {
      ...gateway,
      'x-forwarded-authorization': `Bearer ${await signed('cust-behind-gateway', { audience: 'another-app' })}`,
    });
    expect(forged.status).toBe(401);
  });

  it("mints the correlation id: a client's X-Correlation-Id is never adopted", async () => {
    const client = randomUUID();
    const response = await post(order, { 'x-correlation-id': client });
    expect(response.status).toBe(202);
    expect(response.json.correlationId).not.toBe(client);
    expect(response.headers.get('x-correlation-id')).toBe(response.json.correlationId);
    const stored = await database.db
      .selectFrom('orders')
      .select('correlation_id')
      .where('id', '=', response.json.orderId)
      .executeTakeFirstOrThrow();
    expect(stored.correlation_id).toBe(response.json.correlationId);
  });
});

describe('GET /products', () => {
  it('lists the catalog with prices in minor units', async () => {
    const response = await fetch(`${baseUrl}/products`);
    expect(response.status).toBe(200);
    const products = await response.json();
    expect(products).toContainEqual({
      sku: 'TEA-001',
      name: 'Sencha green tea, 100 g',
      priceMinor: 1299,
      currency: 'EUR',
      stock: 10_000,
    });
  });
});

describe('routes', () => {
  it('answers 405 with Allow for a wrong method and 404 for an unknown path', async () => {
    const wrong = await fetch(`${baseUrl}/orders`, { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await fetch(`${baseUrl}/admin`)).status).toBe(404);
  });
});

describe('when the database is unreachable', () => {
  it('answers 503 without a partial write, and recovers when it is back', async () => {
    expect((await post(order)).status).toBe(202); // the pool holds open connections
    const before = await rowCounts();
    await databaseLink.cut();
    try {
      const responses = [
        await post(order),
        await post(order, { 'idempotency-key': `key-outage-${Date.now()}` }),
      ];
      for (const response of responses) {
        expect(response.status).toBe(503);
        expect(response.json).toMatchObject({ status: 503, code: 'unavailable' });
        expect(response.headers.get('retry-after')).toBe('2');
        expect(response.text).not.toMatch(/ECONNREFUSED|terminated|at /);
      }
    } finally {
      await databaseLink.restore();
    }
    expect(await rowCounts()).toEqual(before);
    expect((await post(order)).status).toBe(202);
  });
});

describe('with this process clock an hour off the database clock', () => {
  let restoreClock = () => {};
  afterEach(() => restoreClock());

  it('times the order and its OrderPlaced by the database clock', async () => {
    restoreClock = skewProcessClock(3_600_000);
    const { json } = await post(order);
    const { rows } = await sql<{ skew_ms: number; event_skew_ms: number }>`
      select extract(epoch from (now() - o.created_at)) * 1000 as skew_ms,
        extract(epoch from (now() - (x.event->>'occurredAt')::timestamptz)) * 1000 as event_skew_ms
      from orders o join outbox x on x.event->>'subject' = o.id::text
      where o.id = ${json.orderId}::uuid`.execute(database.db);
    expect(Math.abs(Number(rows[0]!.skew_ms))).toBeLessThan(5_000);
    expect(Math.abs(Number(rows[0]!.event_skew_ms))).toBeLessThan(5_000);
  });
});
