import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createTopology,
  type DevIssuer,
  type ServedFunction,
  serveFunction,
  signDevToken,
  startDevIssuer,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { withoutTrailingSlashes } from '@orders/platform';
import * as fc from 'fast-check';
import { sql } from 'kysely';

/*
 * Property-based tests of order intake, through functions-framework and a real PostgreSQL.
 * Every case checks: never a 5xx; every 4xx is problem+json naming what is at fault; a
 * refused request writes nothing; a 202 writes exactly one order, its items and one outbox
 * row; Object.prototype stays clean. A failure prints fast-check's seed and path: rerun with
 * FUZZ_SEED=<seed> to reproduce it.
 */
const seed = Number(process.env.FUZZ_SEED ?? 20_240_611);
const maxBodyBytes = 64 * 1024;
const maxItems = 20;
/** Units per order: low enough that generated orders cross it, high enough that most do not. */
const maxQuantity = 2000;
/** Every request is this customer's, unless a case says otherwise. */
const caller = 'cust-fuzz';

const projectId = testProjectId('intake-fuzz');
let database: TestDatabase;
let served: ServedFunction;
let issuer: DevIssuer;
let callerToken: string;
let agent: http.Agent;
let port: number;
let prices: Map<string, number>;
let skus: string[];

beforeAll(async () => {
  database = await testDatabase('intake-fuzz');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  issuer = await startDevIssuer({ audience: projectId });
  callerToken = await issuer.token(caller);
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    // Refusals log at info; only a crash would print.
    LOG_LEVEL: 'error',
    MAX_BODY_BYTES: String(maxBodyBytes),
    MAX_ORDER_ITEMS: String(maxItems),
    MAX_ORDER_QUANTITY: String(maxQuantity),
    // The fuzz places thousands of orders for one customer: their cap is tested elsewhere.
    MAX_OPEN_ORDERS_PER_CUSTOMER: '1000000000',
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    AUTH_JWKS_URL: issuer.jwksUrl,
  });
  require('./index');
  served = await serveFunction('placeOrder', { projectId });
  port = Number(new URL(served.url).port);
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const products = await database.db
    .selectFrom('products')
    .select(['sku', 'price_minor'])
    .execute();
  prices = new Map(products.map((p) => [p.sku, p.price_minor]));
  skus = [...prices.keys()];
});

afterAll(async () => {
  agent?.destroy();
  await served?.close();
  await issuer?.stop();
  await database?.close();
});

// ---------------------------------------------------------------------------------------
// Sending raw requests

interface Sent {
  method?: string;
  path?: string;
  /** Raw header pairs, in order, duplicates kept. */
  headers?: [string, string][];
  body?: string | Buffer;
  /** Send without Content-Length (Transfer-Encoding: chunked). */
  chunked?: boolean;
  /** The Authorization header: default the caller's bearer token; null sends none. */
  authorization?: string | null;
}

interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * Sends bytes as given with node's http client. It refuses, client side, header values with
 * control characters other than tab, code points above U+00FF, methods that are not tokens and
 * paths with spaces or control characters: such requests cannot be sent from here, so the
 * generators below do not produce them (non-Latin-1 header text is sent as its UTF-8 bytes,
 * as real clients do). Methods are ones node's HTTP parser knows: it answers any other with a
 * bare 400 before the function exists for the request.
 */
function send({
  method = 'POST',
  path = '/orders',
  headers = [],
  body,
  chunked = false,
  authorization = `Bearer ${callerToken}`,
}: Sent): Promise<Received> {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const raw = ['Host', `127.0.0.1:${port}`];
  if (authorization !== null) raw.push('Authorization', authorization);
  for (const [name, value] of headers) raw.push(name, value);
  // Explicit: node frames a GET's body as chunked only when told to.
  if (payload)
    raw.push(
      ...(chunked ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(payload.length)]),
    );
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = http.request(
      { host: '127.0.0.1', port, method, path, headers: raw, agent },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    // A server that answers 413 before reading the whole body may reset the upload.
    request.on('error', (error) => (answered ? undefined : reject(error)));
    if (payload) request.write(payload);
    request.end();
  });
}

const jsonType: [string, string] = ['Content-Type', 'application/json'];

// ---------------------------------------------------------------------------------------
// What the intake must answer: the specification the properties check against

type Expected =
  | { status: 202; order: PlacedOrder; key?: string }
  | { status: 400; pointers: string[] }
  | { status: 400; header: 'Idempotency-Key' }
  | { status: 400; code: 'malformed_json' | 'malformed_path' }
  /** Any problem+json 400 (the body's charset makes its text unpredictable). */
  | { status: 400 }
  | { status: 401 | 403 | 404 | 413 | 415 | 422 }
  | { status: 405; allow: string }
  | { status: 200 };

interface PlacedOrder {
  customerId?: string;
  currency: string;
  items: { sku: string; quantity: number }[];
}

const pointerToken = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1');
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A customer id is 1 to 200 UTF-16 units once trimmed, well-formed, without control characters. */
function validCustomerId(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const trimmed = value.trim();
  return (
    trimmed.length >= 1 &&
    trimmed.length <= 200 &&
    trimmed.isWellFormed() &&
    !/\p{Cc}/u.test(trimmed)
  );
}

/** What `POST /orders` with this parsed JSON body must answer (when no other part is at fault). */
function expectedForBody(body: unknown): Expected {
  if (!isPlainObject(body)) return { status: 400, pointers: [''] };
  const pointers: string[] = [];
  for (const key of Object.keys(body)) {
    if (!['customerId', 'currency', 'items'].includes(key)) pointers.push(`/${pointerToken(key)}`);
  }
  // Optional: the order is the caller's; a body may only repeat who that is.
  if ('customerId' in body && !validCustomerId(body.customerId)) pointers.push('/customerId');
  const currency = body.currency;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) pointers.push('/currency');
  const items = body.items;
  if (!Array.isArray(items)) pointers.push('/items');
  else {
    // An array of the wrong length is refused as a whole; its items are not looked at.
    if (items.length < 1 || items.length > maxItems) pointers.push('/items');
    else
      items.forEach((item: unknown, i) => {
        if (!isPlainObject(item)) {
          pointers.push(`/items/${i}`);
          return;
        }
        for (const key of Object.keys(item)) {
          if (key !== 'sku' && key !== 'quantity')
            pointers.push(`/items/${i}/${pointerToken(key)}`);
        }
        if (typeof item.sku !== 'string' || !/^[A-Z0-9][A-Z0-9-]{0,63}$/.test(item.sku)) {
          pointers.push(`/items/${i}/sku`);
        }
        const q = item.quantity;
        if (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > 1000) {
          pointers.push(`/items/${i}/quantity`);
        }
      });
  }
  if (pointers.length > 0) return { status: 400, pointers };

  const order = body as unknown as PlacedOrder;
  const seen = new Set<string>();
  const duplicates: string[] = [];
  order.items.forEach(({ sku }, i) => {
    if (seen.has(sku)) duplicates.push(`/items/${i}/sku`);
    seen.add(sku);
  });
  if (duplicates.length > 0) return { status: 400, pointers: duplicates };
  if (order.items.reduce((sum, { quantity }) => sum + quantity, 0) > maxQuantity) {
    return { status: 400, pointers: ['/items'] };
  }
  if (order.customerId !== undefined && order.customerId.trim() !== caller) return { status: 403 };

  const unknown = order.items.flatMap(({ sku }, i) => (prices.has(sku) ? [] : [`/items/${i}/sku`]));
  const known = order.items.some(({ sku }) => prices.has(sku));
  // The whole catalog is priced in EUR.
  if (known && order.currency !== 'EUR') unknown.push('/currency');
  if (unknown.length > 0) return { status: 400, pointers: unknown };
  return { status: 202, order: { ...order, customerId: caller } };
}

/** What a JSON text sent as `application/json` to `POST /orders` must answer. */
function expectedForText(text: string): Expected {
  // body-parser's strict mode takes only an object or an array at the top.
  if (!/^[\s]*[[{]/.test(text)) return { status: 400, code: 'malformed_json' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: 400, code: 'malformed_json' };
  }
  return expectedForBody(body);
}

// ---------------------------------------------------------------------------------------
// Checking one exchange

interface RowCounts {
  orders: number;
  items: number;
  outbox: number;
  keys: number;
}

async function rowCounts(): Promise<RowCounts> {
  const { rows } = await sql<RowCounts>`
    select (select count(*)::int from orders) as orders,
           (select count(*)::int from order_items) as items,
           (select count(*)::int from outbox) as outbox,
           (select count(*)::int from idempotency_keys) as keys`.execute(database.db);
  return rows[0]!;
}

// The test server runs in this process: jest's sandbox realm (express, body-parser, zod) and
// node's own realm (the http module). Both Object.prototypes must stay as they were.
const hostObjectPrototype = (() => {
  let proto: object = new http.Agent();
  while (Object.getPrototypeOf(proto) !== null) proto = Object.getPrototypeOf(proto);
  return proto;
})();
const prototypes = [Object.prototype, hostObjectPrototype, Array.prototype, Function.prototype];
const cleanPrototypes = prototypes.map((proto) => Reflect.ownKeys(proto).map(String).sort());

function expectNoPollution() {
  for (const probe of ['polluted', 'isAdmin', 'x']) {
    expect(({} as Record<string, unknown>)[probe]).toBeUndefined();
    expect((Object.create(hostObjectPrototype) as Record<string, unknown>)[probe]).toBeUndefined();
  }
  expect(prototypes.map((proto) => Reflect.ownKeys(proto).map(String).sort())).toEqual(
    cleanPrototypes,
  );
}

const codes: Record<number, string> = {
  403: 'customer_mismatch',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'idempotency_key_in_flight',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'idempotency_key_reused',
};

/** What holds for every answer, whatever was sent. */
function checkShape(method: string, received: Received) {
  expect(received.status).toBeLessThan(500);
  if (received.status < 400) return;
  expect(received.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (method === 'HEAD') return;
  const problem = JSON.parse(received.text);
  expect(problem).toMatchObject({
    type: 'about:blank',
    status: received.status,
    title: expect.any(String),
    detail: expect.any(String),
  });
  if (received.status === 400) {
    // Non-field problems: the JSON syntax, or a request target that cannot be decoded.
    if (['malformed_json', 'malformed_path'].includes(problem.code)) {
      expect(problem.errors).toBeUndefined();
    } else {
      // A 400 that is not about the JSON syntax names each field or header at fault.
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors.length).toBeGreaterThan(0);
      for (const issue of problem.errors) {
        expect(typeof issue.detail).toBe('string');
        const where = ['pointer', 'header', 'parameter'].filter((k) => k in issue);
        expect(where).toHaveLength(1);
      }
    }
  } else if (received.status === 401) {
    expect(['unauthenticated', 'invalid_token', 'invalid_request']).toContain(problem.code);
    expect(received.headers['www-authenticate']).toMatch(/^Bearer realm="orders"/);
    expect(problem.errors).toBeUndefined();
  } else if (received.status === 403) {
    expect(problem.code).toBe(codes[403]);
    expect(problem.errors).toEqual([{ pointer: '/customerId', detail: expect.any(String) }]);
  } else {
    expect(problem.code).toBe(codes[received.status]);
    expect(problem.errors).toBeUndefined();
  }
  if (received.status === 405) expect(received.headers.allow).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
}

/** Sends one request and checks every property against what was expected. */
async function exchange(sent: Sent, expected: Expected): Promise<Received> {
  const before = await rowCounts();
  const received = await send(sent);
  const context = `${sent.method ?? 'POST'} ${sent.path ?? '/orders'} -> ${received.status} ${received.text.slice(0, 500)}`;
  try {
    checkShape(sent.method ?? 'POST', received);
    expect(received.status).toBe(expected.status);
    const problem =
      received.status >= 400 && sent.method !== 'HEAD' ? JSON.parse(received.text) : undefined;
    if ('pointers' in expected) {
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors.map((e: { pointer?: string }) => e.pointer).sort()).toEqual(
        [...expected.pointers].sort(),
      );
    }
    if ('header' in expected) {
      expect(problem.errors).toEqual([{ header: expected.header, detail: expect.any(String) }]);
    }
    if ('code' in expected) expect(problem.code).toBe(expected.code);
    if ('allow' in expected) expect(received.headers.allow).toBe(expected.allow);

    const after = await rowCounts();
    if (expected.status === 202 && received.headers['idempotent-replayed'] !== 'true') {
      await checkPlaced(received, expected, before, after);
    } else {
      expect(after).toEqual(before);
    }
    expectNoPollution();
  } catch (error) {
    (error as Error).message = `${context}\n${(error as Error).message}`;
    throw error;
  }
  return received;
}

async function checkPlaced(
  received: Received,
  expected: Extract<Expected, { status: 202 }>,
  before: RowCounts,
  after: RowCounts,
) {
  const { order } = expected;
  expect(after).toEqual({
    orders: before.orders + 1,
    items: before.items + order.items.length,
    outbox: before.outbox + 1,
    keys: before.keys + (expected.key === undefined ? 0 : 1),
  });
  const { orderId } = JSON.parse(received.text);
  const stored = await database.db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  const total = order.items.reduce(
    (sum, { sku, quantity }) => sum + prices.get(sku)! * quantity,
    0,
  );
  expect(stored).toMatchObject({
    customer_id: order.customerId,
    currency: order.currency,
    total_minor: total,
  });
  const items = await database.db
    .selectFrom('order_items')
    .select(['sku', 'quantity', 'unit_price_minor'])
    .where('order_id', '=', orderId)
    .orderBy('sku')
    .execute();
  expect(items).toEqual(
    order.items
      .map(({ sku, quantity }) => ({ sku, quantity, unit_price_minor: prices.get(sku) }))
      .sort((a, b) => (a.sku < b.sku ? -1 : 1)),
  );
  const { rows } = await sql<{ data: Record<string, unknown> }>`
    select event->'data' as data from outbox where event->>'subject' = ${orderId}`.execute(
    database.db,
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]!.data).toMatchObject({
    orderId,
    customerId: order.customerId,
    totalMinor: total,
  });
}

const runs = (numRuns: number) => ({ numRuns, seed, endOnFailure: true });

// ---------------------------------------------------------------------------------------
// Generators

const validLine = () =>
  fc.record({ sku: fc.constantFrom(...skus), quantity: fc.integer({ min: 1, max: 1000 }) });
const validOrder = () =>
  fc.record(
    {
      // The caller's own id, as sent or padded (it is trimmed), or none at all.
      customerId: fc.constantFrom(caller, ` ${caller}\t`),
      currency: fc.constant('EUR'),
      items: fc.uniqueArray(validLine(), { minLength: 1, maxLength: 8, selector: (l) => l.sku }),
    },
    { requiredKeys: ['currency', 'items'] },
  );

/** A JSON value that is not of the given JSON type. */
const wrongTypeFor = (type: 'string' | 'array' | 'number') =>
  fc.oneof(
    ...[
      type === 'number' ? fc.constant('1') : fc.integer(),
      type === 'number' ? fc.string() : fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      type === 'array' ? fc.string() : fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    ],
  );

type Mutation = (body: Record<string, unknown>) => void;
const mutation = fc.oneof(
  // missing fields
  fc.constantFrom('customerId', 'currency', 'items').map<Mutation>((f) => (b) => delete b[f]),
  // wrong types
  wrongTypeFor('string').map<Mutation>((v) => (b) => (b.customerId = v)),
  wrongTypeFor('string').map<Mutation>((v) => (b) => (b.currency = v)),
  wrongTypeFor('array').map<Mutation>((v) => (b) => (b.items = v)),
  // wrong values
  fc
    .constantFrom('', '   ', '\t\n', 'x'.repeat(201), ` ${'y'.repeat(200)} `)
    .map<Mutation>((v) => (b) => (b.customerId = v)),
  fc
    .constantFrom('eur', 'EURO', 'E1R', 'EU', '', 'USD', 'GBP', 'JPY')
    .map<Mutation>((v) => (b) => (b.currency = v)),
  fc.constant<Mutation>((b) => (b.items = [])),
  fc.integer({ min: maxItems + 1, max: maxItems + 5 }).map<Mutation>((n) => (b) => {
    b.items = Array.from({ length: n }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1 }));
  }),
  // extra fields, at the top or in an item
  fc.tuple(fc.string(), fc.jsonValue({ maxDepth: 2 })).map<Mutation>(
    ([k, v]) =>
      (b) =>
        Object.defineProperty(b, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        }),
  ),
  // item-level faults
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        fc.constant<[string, unknown] | 'drop-sku' | 'drop-quantity'>('drop-sku'),
        fc.constant<[string, unknown] | 'drop-sku' | 'drop-quantity'>('drop-quantity'),
        wrongTypeFor('string').map((v) => ['sku', v] as [string, unknown]),
        wrongTypeFor('number').map((v) => ['quantity', v] as [string, unknown]),
        fc
          .constantFrom('tea-001', '', '-TEA', 'A'.repeat(65), 'NOPE-1', 'TEA 001')
          .map((v) => ['sku', v] as [string, unknown]),
        fc
          .constantFrom(0, -1, 1.5, 1001, 1e21, -0.5)
          .map((v) => ['quantity', v] as [string, unknown]),
        fc
          .tuple(fc.string(), fc.jsonValue({ maxDepth: 1 }))
          .map(([k, v]) => [k, v] as [string, unknown]),
        fc.constant<[string, unknown]>(['unitPriceMinor', 1]),
      ),
    )
    .map<Mutation>(([n, fault]) => (b) => {
      if (!Array.isArray(b.items) || b.items.length === 0) return;
      const item = b.items[n % b.items.length];
      if (!isPlainObject(item)) return;
      if (fault === 'drop-sku') delete item.sku;
      else if (fault === 'drop-quantity') delete item.quantity;
      else
        Object.defineProperty(item, fault[0], {
          value: fault[1],
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }),
  // an item that is not an object, and a duplicate sku
  fc
    .tuple(fc.nat(), fc.oneof(fc.string(), fc.integer(), fc.constant(null)))
    .map<Mutation>(([n, v]) => (b) => {
      if (Array.isArray(b.items) && b.items.length > 0) b.items[n % b.items.length] = v;
    }),
  fc.constant<Mutation>((b) => {
    if (Array.isArray(b.items) && b.items.length > 0) b.items.push({ ...b.items[0] });
  }),
);

/** A string made of awkward pieces: lone surrogates, NUL, bidi marks, emoji, NFC and NFD. */
const oddUnicode = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\uD800',
        '\uDFFF',
        '\uDBFF\uDC00',
        '\u0000',
        '\u0007',
        '\u007F',
        '\u0085',
        '\u200E',
        '\u200F',
        '\u202E',
        '\u2066',
        '\uFEFF',
        '\u2028',
        '\uFFFF',
        '\uFFFD',
        '😀',
        '👩‍👩‍👧',
        '🇪🇺',
        '\u00E9',
        'e\u0301',
        '\u212B',
        'A\u030A',
        'ß',
        'İ',
        'Ａ',
        '\u00A0',
        '\t',
        '\n',
        ' ',
        'TEA-001',
        'EUR',
        'cust-1',
      ),
      fc.string({ unit: 'binary', maxLength: 3 }),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** A JSON text in which every non-ASCII character may be escaped as \uXXXX. */
function toJsonText(value: unknown, escapeNonAscii: boolean): string {
  const text = JSON.stringify(value);
  return escapeNonAscii
    ? text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : text;
}

// ---------------------------------------------------------------------------------------
// Properties

describe('POST /orders under fuzzed input', () => {
  it('arbitrary JSON values: refused with the right pointers, or placed exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc
            .tuple(validOrder(), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })))
            .map(([order, extra]) => ({ ...order, ...extra })),
        ),
        async (value) => {
          const text = JSON.stringify(value);
          await exchange({ headers: [jsonType], body: text }, expectedForText(text));
        },
      ),
      runs(300),
    );
  });

  it('valid-looking orders with wrong types, missing, extra and bad fields', async () => {
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.array(mutation, { maxLength: 4 }),
        async (order, mutations) => {
          const body: Record<string, unknown> = structuredClone(order);
          for (const mutate of mutations) mutate(body);
          const text = JSON.stringify(body);
          await exchange({ headers: [jsonType], body: text }, expectedForText(text));
        },
      ),
      runs(500),
    );
  });

  it('odd unicode in customerId, sku and currency', async () => {
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.constantFrom('customerId', 'sku', 'currency'),
        oddUnicode,
        fc.boolean(),
        async (order, field, odd, escapeNonAscii) => {
          const body = structuredClone(order) as PlacedOrder;
          if (field === 'sku') body.items[0]!.sku = odd;
          else body[field] = odd;
          const text = toJsonText(body, escapeNonAscii);
          await exchange({ headers: [jsonType], body: text }, expectedForText(text));
        },
      ),
      runs(300),
    );
  });

  it('prototype-pollution keys at any depth, as raw JSON text', async () => {
    const key = fc.constantFrom('__proto__', 'constructor', 'prototype');
    const payload = fc.constantFrom(
      '{"polluted":"yes"}',
      '{"prototype":{"polluted":"yes"}}',
      '{"__proto__":{"polluted":"yes"}}',
      '[{"__proto__":{"isAdmin":true}}]',
      '"polluted"',
      '{"toString":"x","valueOf":1,"hasOwnProperty":null}',
    );
    // `"k": v` inserted at some depth: the top object, an item, or inside a field's value.
    const nested = fc
      .tuple(fc.array(key, { minLength: 1, maxLength: 6 }), payload)
      .map(([keys, inner]) =>
        keys.reduceRight<string>(
          (acc, k, i) => (i === keys.length - 1 ? `"${k}":${acc}` : `"${k}":{${acc}}`),
          inner,
        ),
      );
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        nested,
        fc.constantFrom('top', 'item', 'customerId', 'items', 'extra', 'wrapped'),
        async (order, member, where) => {
          const items = order.items.map((item) => JSON.stringify(item));
          const base = {
            customerId: JSON.stringify(order.customerId ?? caller),
            currency: '"EUR"',
            items: `[${items.join(',')}]`,
          };
          let text: string;
          if (where === 'top')
            text = `{${member},"customerId":${base.customerId},"currency":"EUR","items":${base.items}}`;
          else if (where === 'item') {
            items[0] = `{${member},${items[0]!.slice(1)}`;
            text = `{"customerId":${base.customerId},"currency":"EUR","items":[${items.join(',')}]}`;
          } else if (where === 'customerId')
            text = `{"customerId":{${member}},"currency":"EUR","items":${base.items}}`;
          else if (where === 'items')
            text = `{"customerId":${base.customerId},"currency":"EUR","items":{${member}}}`;
          else if (where === 'extra')
            text = `{"customerId":${base.customerId},"currency":"EUR","items":${base.items},"meta":{"a":[{${member}}]}}`;
          else text = `[{${member}}]`;
          await exchange({ headers: [jsonType], body: text }, expectedForText(text));
        },
      ),
      runs(200),
    );
    // The same keys through the other parsers functions-framework runs before the function:
    // the query string and a urlencoded body (extended qs syntax).
    await fc.assert(
      fc.asyncProperty(
        fc.array(key, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('query', 'form'),
        async (keys, where) => {
          const pair = `${keys[0]}${keys
            .slice(1)
            .map((k) => `[${k}]`)
            .join('')}[polluted]=yes`;
          if (where === 'query') {
            await exchange({ method: 'GET', path: `/products?${pair}` }, { status: 200 });
          } else {
            await exchange(
              {
                headers: [['Content-Type', 'application/x-www-form-urlencoded']],
                body: `${pair}&customerId=c`,
              },
              { status: 415 },
            );
          }
        },
      ),
      runs(50),
    );
  });

  it('deeply nested bodies: thousands of levels, sent as raw text', async () => {
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.integer({ min: 1_000, max: 20_000 }),
        fc.constantFrom('array', 'object'),
        fc.constantFrom('root', 'customerId', 'quantity', 'extra', 'item'),
        fc.boolean(),
        async (order, depth, kind, where, closed) => {
          const open = kind === 'array' ? '[' : '{"a":';
          const close = kind === 'array' ? ']' : '}';
          // As deep as fits under the body limit, next to an order of up to 8 lines.
          const levels = Math.min(
            depth,
            Math.floor((maxBodyBytes - 1024) / (open.length + close.length)),
          );
          const deep = `${open.repeat(levels)}1${closed ? close.repeat(levels) : ''}`;
          const items = order.items.map((item) => JSON.stringify(item));
          const customerId = JSON.stringify(order.customerId ?? caller);
          let text: string;
          if (where === 'root') text = deep;
          else if (where === 'customerId')
            text = `{"customerId":${deep},"currency":"EUR","items":[${items}]}`;
          else if (where === 'quantity') {
            items[0] = `{"sku":"${order.items[0]!.sku}","quantity":${deep}}`;
            text = `{"customerId":${customerId},"currency":"EUR","items":[${items}]}`;
          } else if (where === 'item')
            text = `{"customerId":${customerId},"currency":"EUR","items":[${items},${deep}]}`;
          else
            text = `{"customerId":${customerId},"currency":"EUR","items":[${items}],"deep":${deep}}`;
          expect(Buffer.byteLength(text)).toBeLessThan(maxBodyBytes);
          await exchange({ headers: [jsonType], body: text }, expectedForText(text));
        },
      ),
      runs(60),
    );
  });

  it('bodies over MAX_BODY_BYTES: 413, whatever their type, encoding or framing', async () => {
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.integer({ min: maxBodyBytes + 1, max: 4 * maxBodyBytes }),
        fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/octet-stream',
          'application/xml',
          'application/cloudevents+json',
        ),
        fc.constantFrom('padded', 'long-field', 'garbage', 'gzip'),
        fc.boolean(),
        fc.constantFrom(['POST', '/orders'], ['GET', '/products'], ['PUT', '/nowhere']),
        async (order, size, type, shape, chunked, [method, path]) => {
          let body: Buffer;
          const headers: [string, string][] = [['Content-Type', type]];
          if (shape === 'padded') body = Buffer.from(JSON.stringify(order) + ' '.repeat(size));
          else if (shape === 'long-field')
            body = Buffer.from(JSON.stringify({ ...order, customerId: 'x'.repeat(size) }));
          else if (shape === 'garbage') body = Buffer.alloc(size, 'a{');
          else {
            // Small on the wire, over the limit once inflated.
            body = gzipSync(JSON.stringify({ ...order, customerId: 'x'.repeat(size) }));
            headers.push(['Content-Encoding', 'gzip']);
          }
          await exchange({ method, path, headers, body, chunked }, { status: 413 });
        },
      ),
      runs(50),
    );
  });

  it('non-JSON bodies and wrong or missing content types', async () => {
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
          fc.constantFrom(
            '',
            '{',
            '{"customerId": "c",',
            "{'customerId': 'c'}",
            'customerId=c&currency=EUR',
            '<order/>',
            'null',
            'true',
            '42',
            '"order"',
            '{"a":1}{"b":2}',
            '{"quantity": 1e400}',
            '{"a": NaN}',
            '\uFEFF{"customerId":"c"}',
          ),
        ),
        fc.constantFrom(
          undefined,
          'application/json',
          'application/json; charset=utf-8',
          'APPLICATION/JSON',
          'text/plain',
          'text/json',
          'application/jsonx',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/xml',
          'application/octet-stream',
          '*/*',
          'application/json; charset=latin1',
          'application/json; charset=utf-16',
          'garbage',
          '',
          ';;;',
        ),
        fc.boolean(),
        async (order, body, type, sendValidOrder) => {
          const payload = sendValidOrder ? JSON.stringify(order) : body;
          const text = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
          const headers: [string, string][] = type === undefined ? [] : [['Content-Type', type]];
          const json = type !== undefined && /^application\/json\s*(;|$)/i.test(type);
          // body-parser decodes any utf-* charset and refuses the others.
          const charset = /charset=([^;]*)/i.exec(type ?? '')?.[1]?.toLowerCase();
          let expected: Expected;
          if (!json || (charset !== undefined && !charset.startsWith('utf-'))) {
            expected = { status: 415 };
          } else if (charset !== undefined && charset !== 'utf-8') expected = { status: 400 };
          else if (Buffer.byteLength(payload) === 0)
            expected = { status: 400, code: 'malformed_json' };
          else expected = expectedForText(text);
          // A body that is not valid UTF-8 reaches JSON.parse with U+FFFD in it.
          if (Buffer.isBuffer(payload) && Buffer.from(text, 'utf8').compare(payload) !== 0) {
            if (expected.status !== 415)
              expected = expectedForText(Buffer.from(payload).toString('utf8'));
          }
          await exchange({ headers, body: payload }, expected);
        },
      ),
      runs(200),
    );
  });

  it('odd headers: Idempotency-Key, X-Correlation-Id, duplicates, trace headers', async () => {
    const latin1OfUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
    const headerText = fc
      .oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 10 }),
        fc.constantFrom(
          ' ',
          ' a',
          'a b',
          '\tkey',
          'k\tk',
          'ü',
          'clé',
          '🔑',
          'x'.repeat(300),
          'k'.repeat(255),
        ),
      )
      .map(latin1OfUtf8);
    const keyPattern = /^[\x21-\x7e]{1,255}$/;
    const placedKeys = new Map<string, string>();
    const uuidPattern = /^[\da-f]{8}-[\da-f]{4}-[1-8][\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/i;
    await fc.assert(
      fc.asyncProperty(
        validOrder(),
        fc.array(headerText, { maxLength: 2 }),
        fc.boolean(),
        fc.array(
          fc.oneof(
            headerText,
            fc.uuid().map((u) => u.toUpperCase()),
            fc.uuid(),
          ),
          {
            maxLength: 2,
          },
        ),
        fc.option(headerText),
        fc.constantFrom('none', 'same', 'other'),
        async (order, keys, uniqueKey, correlationIds, trace, repeat) => {
          // A nonce keeps a valid key from replaying an earlier case's order.
          const sentKeys = uniqueKey ? keys.map((k) => `${randomUUID()}${k}`) : keys;
          const headers: [string, string][] = [jsonType];
          for (const k of sentKeys) headers.push(['Idempotency-Key', k]);
          for (const id of correlationIds) headers.push(['X-Correlation-Id', id]);
          if (trace !== null) {
            headers.push(['traceparent', trace], ['X-Cloud-Trace-Context', trace]);
          }
          // The server trims each value's surrounding spaces and tabs, joins repeated headers
          // with ", " and keeps the first Content-Type.
          headers.push(['Content-Type', 'text/plain']);
          const received = (values: string[]) =>
            values.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
          const key = sentKeys.length === 0 ? undefined : received(sentKeys);
          const body = JSON.stringify(order);
          // A valid order may still hold more units than an order may: refused before its key.
          const placed = expectedForBody(order);
          // A key an earlier case placed an order with replays it, or refuses another order.
          const earlier = key === undefined ? undefined : placedKeys.get(key);
          const fingerprint = placed.status === 202 ? JSON.stringify(placed.order) : undefined;
          const expected: Expected =
            key !== undefined && !keyPattern.test(key)
              ? { status: 400, header: 'Idempotency-Key' }
              : placed.status !== 202
                ? placed
                : earlier !== undefined && earlier !== fingerprint
                  ? { status: 422 }
                  : { ...placed, key };
          const first = await exchange({ headers, body }, expected);
          if (earlier !== undefined && earlier === fingerprint) {
            expect(first.headers['idempotent-replayed']).toBe('true');
          }
          if (key !== undefined && first.status === 202) placedKeys.set(key, fingerprint!);
          const correlation = correlationIds.length > 0 ? received(correlationIds) : undefined;
          // The server's own, never the client's, whatever the client sent.
          const echoed = first.headers['x-correlation-id'];
          expect(echoed).toMatch(uuidPattern);
          expect(echoed).not.toBe(correlation?.toLowerCase());
          if (expected.status !== 202 || key === undefined || repeat === 'none' || !uniqueKey)
            return;
          if (repeat === 'same') {
            const again = await exchange({ headers, body }, expected);
            expect(again.headers['idempotent-replayed']).toBe('true');
            expect(again.text).toBe(first.text);
          } else {
            const other = JSON.stringify({ ...order, currency: 'GBP' });
            await exchange({ headers, body: other }, { status: 422 });
          }
        },
      ),
      runs(250),
    );
  });

  it('requests without a token that proves the caller: 401 with WWW-Authenticate, nothing written', async () => {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer.issuer,
      aud: issuer.audience,
      sub: caller,
      iat: now,
      exp: now + 600,
    };
    const [header, , signature] = callerToken.split('.');
    const impostor = await startDevIssuer({ audience: issuer.audience });
    await impostor.stop();
    const forged = await signDevToken(
      { ...issuer, privateJwk: { ...impostor.privateJwk, kid: issuer.privateJwk.kid } },
      caller,
    );
    const sign = (overrides: { audience?: string; issuer?: string; ttl?: number }) =>
      signDevToken(
        { ...issuer, ...overrides },
        caller,
        overrides.ttl === undefined ? {} : { expiresInSeconds: overrides.ttl },
      );
    const fixed = [
      null,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from(`${caller}:x`).toString('base64')}`,
      `Bearer ${forged}`,
      `Bearer ${await sign({ ttl: -120 })}`,
      `Bearer ${await sign({ audience: 'another-app' })}`,
      `Bearer ${await sign({ issuer: 'https://issuer.example' })}`,
      `Bearer ${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`,
      `Bearer ${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${signature}`,
      // The caller's signature over someone else's claims.
      `Bearer ${header}.${part({ ...claims, sub: 'cust-victim' })}.${signature}`,
      `Bearer ${callerToken}x`,
      `Bearer ${callerToken.split('.').slice(0, 2).join('.')}`,
    ];
    const authorization = fc.oneof(
      fc.constantFrom(...fixed),
      fc.string({ maxLength: 60 }).map((text) => `Bearer ${text.replace(/[^\x21-\x7e]/g, 'a')}`),
      fc.base64String({ maxLength: 80 }).map((text) => `Bearer ${text}`),
    );
    await fc.assert(
      fc.asyncProperty(
        authorization,
        validOrder(),
        fc.constantFrom('POST', 'GET'),
        async (sentAuthorization, order, method) => {
          const post = method === 'POST';
          await exchange(
            {
              method,
              path: post ? '/orders' : `/orders/${randomUUID()}`,
              headers: post ? [jsonType, ['Idempotency-Key', randomUUID()]] : [],
              body: post ? JSON.stringify(order) : undefined,
              authorization: sentAuthorization,
            },
            { status: 401 },
          );
        },
      ),
      runs(150),
    );
  });

  it('odd methods and paths', async () => {
    // Methods node's HTTP parser knows (it answers any other with a bare 400 itself).
    const method = fc.constantFrom(
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'PATCH',
      'DELETE',
      'OPTIONS',
      'TRACE',
      'PROPFIND',
      'SEARCH',
      'PURGE',
      'MKCOL',
      'LOCK',
      'REPORT',
      'QUERY',
    );
    const path = fc.oneof(
      fc.constantFrom(
        '/orders',
        '/orders/',
        '/orders///',
        '//orders',
        '/ORDERS',
        '/orders/abc',
        '/orders/00000000-0000-4000-8000-000000000000',
        '/orders/%E0%A4%A',
        '/orders/%',
        '/orders/%00',
        '/orders/%2F',
        '/orders/..%2F..%2Fetc%2Fpasswd',
        '/orders/a/b',
        '/ord%65rs',
        '/%2e%2e/orders',
        '/products',
        '/products/',
        '/products?__proto__[polluted]=1',
        '/orders?constructor[prototype][polluted]=1',
        '/',
        '*',
        `/orders/${'a'.repeat(4000)}`,
        '/orders/%F0%9F%98%80',
        '/orders/%uD800',
      ),
      fc.webPath(),
      fc.tuple(fc.webSegment(), fc.webQueryParameters()).map(([s, q]) => `/orders/${s}?${q}`),
    );
    await fc.assert(
      fc.asyncProperty(method, path, validOrder(), async (m, p, order) => {
        // functions-framework answers these itself, before the function, with an empty 404.
        fc.pre(!/^\/(favicon\.ico|robots\.txt)(\/|$|\?)/.test(p));
        const body = m === 'GET' || m === 'HEAD' ? undefined : JSON.stringify(order);
        const headers: [string, string][] = body === undefined ? [] : [jsonType];
        await exchange(
          { method: m, path: p || '/', headers, body },
          expectedRoute(m, p || '/', order),
        );
      }),
      runs(200),
    );
  });
});

/** What the intake answers to a method and a raw request target (intake-api.ts routes). */
function expectedRoute(method: string, target: string, order: PlacedOrder): Expected {
  const pathname = target.split('?')[0]!;
  try {
    decodeURIComponent(pathname);
  } catch {
    return { status: 400, code: 'malformed_path' };
  }
  const path = withoutTrailingSlashes(pathname) || '/';
  if (path === '/orders') {
    return method === 'POST' ? expectedForBody(order) : { status: 405, allow: 'POST' };
  }
  if (/^\/orders\/[^/]+$/.test(path)) {
    return method === 'GET' ? { status: 404 } : { status: 405, allow: 'GET' };
  }
  if (path === '/products')
    return method === 'GET' ? { status: 200 } : { status: 405, allow: 'GET' };
  return { status: 404 };
}
