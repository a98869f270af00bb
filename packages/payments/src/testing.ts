import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { paymentIdOf } from '@orders/events';
import type { ChargeRequest, VoidRequest } from './payment-provider';

/**
 * A local double of exactly the Stripe endpoints the Stripe provider calls, for tests that
 * drive the real `stripe` SDK against it (`apiUrl`): customer search, PaymentIntents
 * (create, retrieve, update, confirm, cancel) and refunds. It keeps Stripe's rules that the
 * provider relies on:
 * - `Idempotency-Key`: the same key with the same request replays the first answer (a
 *   decline included); the same key with another request is Stripe's `idempotency_error`;
 *   the same key while its first request is still running is a 409 `idempotency_key_in_use`;
 * - a PaymentIntent is confirmed or cancelled once (`payment_intent_unexpected_state`, with
 *   the PaymentIntent, otherwise), a card declined by its payment method is a 402
 *   `card_error` with its `decline_code`, and a refund never pays back more than was charged
 *   (`amount_too_large`, `charge_already_refunded`).
 * Faults are armed one request at a time (`fault`): an error status before anything is done
 * (nothing is stored under the key, as Stripe does for a request that never ran), an answer
 * held after the operation was done, or an operation that lands only after a delay.
 */
export interface StripeDouble {
  /** `http://127.0.0.1:PORT`: the provider's `apiUrl`. */
  url: string;
  secretKey: string;
  /**
   * A Stripe customer for our customer id (its metadata `customer_id`) with a default card;
   * `declineCode` makes the card declined with that Stripe decline code.
   */
  addCustomer(customerId: string, options?: { declineCode?: string }): void;
  /** Arms a fault for the next request whose `METHOD path` matches `route`. */
  fault(route: RegExp, fault: Fault): void;
  /** The PaymentIntents whose metadata names this payment. */
  paymentIntentsOf(paymentId: string): StripeObject[];
  /** The refunds of a PaymentIntent. */
  refundsOf(paymentIntentId: string): StripeObject[];
  /** Every request, as received: `METHOD path`, its Idempotency-Key and its parameters. */
  requests: { route: string; idempotencyKey: string | undefined; params: Params }[];
  /** Resolves once no request is being worked on (a held or late one included). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export type Fault =
  /** Answers this status (5xx, 429, or 409 with `code`) without doing anything. */
  | { kind: 'status'; status: number; code?: string }
  /** Does the operation, then holds its answer this long. */
  | { kind: 'hold-answer'; ms: number }
  /** Waits this long, then does the operation and answers. */
  | { kind: 'land-late'; ms: number };

// biome-ignore lint/suspicious/noExplicitAny: Stripe's objects are JSON of many shapes.
type StripeObject = Record<string, any>;
type Params = Record<string, unknown>;

interface Answer {
  status: number;
  body: StripeObject;
}

export async function startStripeDouble(): Promise<StripeDouble> {
  const secretKey = `sk_test_double${randomBytes(6).toString('hex')}`;
  const customers = new Map<string, StripeObject>();
  const declines = new Map<string, string>();
  const paymentIntents = new Map<string, StripeObject>();
  const refunds = new Map<string, StripeObject>();
  const answered = new Map<string, { fingerprint: string; answer?: Answer }>();
  const faults: { route: RegExp; fault: Fault }[] = [];
  const requests: StripeDouble['requests'] = [];
  const working = new Set<Promise<void>>();

  const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
  const error = (status: number, fields: StripeObject): Answer => ({
    status,
    body: { error: { type: 'invalid_request_error', ...fields } },
  });
  const unexpectedState = (intent: StripeObject, action: string) =>
    error(400, {
      code: 'payment_intent_unexpected_state',
      message: `You cannot ${action} this PaymentIntent because it has a status of ${intent.status}.`,
      payment_intent: intent,
    });
  const missing = (what: string) =>
    error(404, { code: 'resource_missing', message: `No such ${what}` });

  function perform(method: string, path: string, params: Params, query: URLSearchParams): Answer {
    if (method === 'GET' && path === '/v1/customers/search') {
      const matched = /^metadata\['customer_id'\]:'((?:[^'\\]|\\.)*)'$/.exec(
        query.get('query') ?? '',
      );
      if (!matched) return error(400, { message: 'unsupported search query' });
      const ours = matched[1]!.replace(/\\(.)/g, '$1');
      const data = [...customers.values()].filter((c) => c.metadata.customer_id === ours);
      return { status: 200, body: { object: 'search_result', data, has_more: false } };
    }
    if (method === 'POST' && path === '/v1/payment_intents') {
      const amount = Number(params.amount);
      if (!Number.isInteger(amount) || amount < 1 || typeof params.currency !== 'string') {
        return error(400, { message: 'amount and currency are required' });
      }
      const intent = {
        id: id('pi'),
        object: 'payment_intent',
        amount,
        amount_received: 0,
        currency: params.currency,
        status: 'requires_payment_method',
        customer: null,
        payment_method: null,
        metadata: { ...(params.metadata as object) },
        last_payment_error: null,
        latest_charge: null,
      };
      paymentIntents.set(intent.id, intent);
      return { status: 200, body: intent };
    }
    if (method === 'POST' && path === '/v1/refunds') {
      const intent = paymentIntents.get(String(params.payment_intent));
      if (!intent) return missing(`payment_intent: '${params.payment_intent}'`);
      if (intent.status !== 'succeeded') {
        return error(400, {
          code: 'charge_not_found',
          message: `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`,
        });
      }
      const refunded = [...refunds.values()]
        .filter((refund) => refund.payment_intent === intent.id)
        .reduce((sum, refund) => sum + refund.amount, 0);
      const left = intent.amount_received - refunded;
      if (left === 0) {
        return error(400, {
          code: 'charge_already_refunded',
          message: `Charge ${intent.latest_charge} has already been refunded.`,
        });
      }
      const amount = params.amount === undefined ? left : Number(params.amount);
      if (amount > left) {
        return error(400, {
          code: 'amount_too_large',
          message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`,
        });
      }
      const refund = {
        id: id('re'),
        object: 'refund',
        amount,
        currency: intent.currency,
        payment_intent: intent.id,
        status: 'succeeded',
        metadata: { ...(params.metadata as object) },
      };
      refunds.set(refund.id, refund);
      return { status: 200, body: refund };
    }
    const route = /^\/v1\/payment_intents\/([^/]+)(?:\/(confirm|cancel))?$/.exec(path);
    const intent = route ? paymentIntents.get(route[1]!) : undefined;
    if (!route) return error(404, { message: `Unrecognized request URL (${method}: ${path})` });
    if (!intent) return missing(`payment_intent: '${route[1]}'`);
    const open = ['requires_payment_method', 'requires_confirmation'].includes(intent.status);
    if (method === 'GET' && !route[2]) return { status: 200, body: intent };
    if (method === 'POST' && !route[2]) {
      if (!open) return unexpectedState(intent, 'update');
      if (params.customer !== undefined) {
        if (!customers.has(String(params.customer))) {
          return missing(`customer: '${params.customer}'`);
        }
        intent.customer = params.customer;
      }
      Object.assign(intent.metadata, params.metadata ?? {});
      return { status: 200, body: intent };
    }
    if (method === 'POST' && route[2] === 'confirm') {
      if (!open) return unexpectedState(intent, 'confirm');
      const method = String(params.payment_method);
      const owner = [...customers.values()].find(
        (customer) => customer.invoice_settings.default_payment_method === method,
      );
      if (!owner || owner.id !== intent.customer) {
        return error(400, {
          message: `The PaymentMethod ${method} does not belong to the PaymentIntent's customer.`,
        });
      }
      intent.payment_method = method;
      const declineCode = declines.get(method);
      if (declineCode) {
        intent.last_payment_error = { code: 'card_declined', decline_code: declineCode };
        return {
          status: 402,
          body: {
            error: {
              type: 'card_error',
              code: 'card_declined',
              decline_code: declineCode,
              message: 'Your card was declined.',
              payment_intent: { ...intent },
            },
          },
        };
      }
      Object.assign(intent, {
        status: 'succeeded',
        amount_received: intent.amount,
        latest_charge: id('ch'),
        last_payment_error: null,
      });
      return { status: 200, body: intent };
    }
    if (method === 'POST' && route[2] === 'cancel') {
      if (!open) return unexpectedState(intent, 'cancel');
      Object.assign(intent, {
        status: 'canceled',
        cancellation_reason: params.cancellation_reason ?? null,
      });
      return { status: 200, body: intent };
    }
    return error(404, { message: `Unrecognized request URL (${method}: ${path})` });
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://double');
    const body = await readBody(request);
    const params = parseForm(body);
    const method = request.method ?? 'GET';
    const route = `${method} ${url.pathname}`;
    const keyHeader = request.headers['idempotency-key'];
    const idempotencyKey = typeof keyHeader === 'string' ? keyHeader : undefined;
    requests.push({ route, idempotencyKey, params });
    const send = (answer: Answer) => {
      response.writeHead(answer.status, {
        'content-type': 'application/json',
        'request-id': id('req'),
      });
      response.end(JSON.stringify(answer.body));
    };

    if (request.headers.authorization !== `Bearer ${secretKey}`) {
      return send(error(401, { message: 'Invalid API Key provided' }));
    }
    const armed = faults.findIndex((candidate) => candidate.route.test(route));
    const fault = armed >= 0 ? faults.splice(armed, 1)[0]!.fault : undefined;
    if (fault?.kind === 'status') {
      const type = fault.status === 429 ? 'rate_limit_error' : 'api_error';
      return send({
        status: fault.status,
        body: { error: { type, code: fault.code, message: `injected ${fault.status}` } },
      });
    }

    // Stripe's idempotency: one answer per key, for one request.
    const fingerprint = `${route} ${JSON.stringify(sortedEntries(params))}`;
    const first = idempotencyKey ? answered.get(idempotencyKey) : undefined;
    if (first && first.fingerprint !== fingerprint) {
      return send({
        status: 400,
        body: {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        },
      });
    }
    if (first && !first.answer) {
      return send(
        error(409, {
          code: 'idempotency_key_in_use',
          message: 'There is currently another in-progress request using this Idempotency Key.',
        }),
      );
    }
    if (first?.answer) return send(first.answer);
    const entry: { fingerprint: string; answer?: Answer } = { fingerprint };
    if (idempotencyKey && method === 'POST') answered.set(idempotencyKey, entry);

    if (fault?.kind === 'land-late') await sleep(fault.ms);
    entry.answer = perform(method, url.pathname, params, url.searchParams);
    if (fault?.kind === 'hold-answer') await sleep(fault.ms);
    // The client may have given up (its timeout): the operation stands all the same.
    if (!response.destroyed && !request.socket.destroyed) send(entry.answer);
  }

  const server = createServer((request, response) => {
    const work: Promise<void> = handle(request, response)
      .catch((failure: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { type: 'api_error', message: String(failure) } }));
        }
      })
      .finally(() => working.delete(work));
    working.add(work);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    addCustomer(customerId, { declineCode } = {}) {
      const paymentMethod = id('pm');
      const customer = {
        id: id('cus'),
        object: 'customer',
        metadata: { customer_id: customerId },
        invoice_settings: { default_payment_method: paymentMethod },
      };
      customers.set(customer.id, customer);
      if (declineCode) declines.set(paymentMethod, declineCode);
    },
    fault(route, fault) {
      faults.push({ route, fault });
    },
    paymentIntentsOf: (paymentId) =>
      [...paymentIntents.values()].filter((intent) => intent.metadata.payment_id === paymentId),
    refundsOf: (paymentIntentId) =>
      [...refunds.values()].filter((refund) => refund.payment_intent === paymentIntentId),
    requests,
    async idle() {
      while (working.size > 0) await Promise.all(working);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((failure) => (failure ? reject(failure) : resolve())),
      );
    },
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Stripe's form encoding, one level deep: `a=1&metadata[k]=v&list[0]=x`. */
function parseForm(body: string): Params {
  const params: Params = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const nested = /^([^[]+)\[([^\]]*)\]$/.exec(name);
    if (!nested) {
      params[name] = value;
      continue;
    }
    const [, outer, inner] = nested as unknown as [string, string, string];
    if (params[outer] === undefined) params[outer] = /^\d+$/.test(inner) ? [] : {};
    (params[outer] as Record<string, string>)[inner] = value;
  }
  return params;
}

function sortedEntries(params: Params): unknown {
  if (Array.isArray(params) || typeof params !== 'object' || params === null) return params;
  return Object.keys(params)
    .sort()
    .map((key) => [key, sortedEntries(params[key] as Params)]);
}

/** A charge of a new order's one payment under its charge key, as the payment handler asks. */
export function chargeRequest(customerId = 'cust-1', amountMinor = 4448): ChargeRequest {
  const orderId = randomUUID();
  const paymentId = paymentIdOf(orderId);
  return {
    idempotencyKey: `${paymentId}:charge`,
    paymentId,
    orderId,
    customerId,
    amountMinor,
    currency: 'EUR',
  };
}

/** The void of the payment of `charge`, under the charge's key. */
export function voidOf({
  idempotencyKey,
  paymentId,
  orderId,
  amountMinor,
  currency,
}: ChargeRequest): VoidRequest {
  return { chargeIdempotencyKey: idempotencyKey, paymentId, orderId, amountMinor, currency };
}
