import { randomUUID } from 'node:crypto';
import type { StoredResponse } from '@orders/db';
import { createEvent, type DomainEvent } from '@orders/events';
import type { Outbox } from '@orders/messaging';
import { type Logger, ProblemError } from '@orders/platform';
import { type FieldIssue, ValidationError } from '@orders/runtime';
import type { IntakeStore, Quote } from './intake-store';
import type { OrderRequest } from './order-request';
import { requestFingerprint } from './request-fingerprint';

export interface PlaceOrderDeps {
  /** Every statement placing an order runs. */
  store: IntakeStore;
  outbox: Outbox;
  /** The producer named in events. */
  source: string;
  /** Most orders one customer may have open (placed, not yet paid or cancelled). */
  maxOpenOrders: number;
  /** The Retry-After of the 429 when a customer has that many. */
  openOrdersRetryAfterSeconds: number;
}

export interface PlaceOrderInput {
  request: OrderRequest;
  correlationId: string;
  /** The client's `Idempotency-Key`, if it sent one. */
  idempotencyKey?: string | undefined;
  log: Logger;
}

export type PlaceOrderResult = StoredResponse & { replayed: boolean };

/** A customer has as many open orders as allowed (429): one must be paid or cancelled first. */
class TooManyOpenOrdersError extends ProblemError {
  override readonly name = 'TooManyOpenOrdersError';
  constructor(limit: number, retryAfterSeconds: number) {
    super(`you have ${limit} open orders, the most allowed; pay or wait for one first`, {
      status: 429,
      code: 'too_many_open_orders',
      headers: { 'retry-after': String(retryAfterSeconds) },
    });
  }
}

/**
 * Places an order for the customer the request was authenticated as:
 * 1. with an Idempotency-Key, claim it under that customer (another caller's keys are
 *    another scope: never replayed, probed or taken), or replay the stored response, or refuse;
 * 2. price every line from the catalog (never from the client), read in the claim's statement
 *    when there is one; unknown skus are refused, and so is a customer with too many open
 *    orders;
 * 3. write order, items and the OrderPlaced outbox row in one statement, and with a key,
 *    store the response in that same statement;
 * 4. after commit, publish OrderPlaced (routed to order-saga and analytics); if that
 *    fails, the outbox relay publishes it later.
 */
export async function placeOrder(
  deps: PlaceOrderDeps,
  input: PlaceOrderInput,
): Promise<PlaceOrderResult> {
  const { store, outbox } = deps;
  const { request, idempotencyKey, log } = input;

  const scope = `POST /orders by ${request.customerId}`;
  const quoting = { skus: request.items.map((item) => item.sku), customerId: request.customerId };
  // The claim and the quote share a statement (a replay's quote is not read).
  const keyed = idempotencyKey
    ? await store.claimKey(
        scope,
        idempotencyKey,
        requestFingerprint('POST', '/orders', request),
        quoting,
      )
    : undefined;
  if (keyed?.outcome === 'replay') {
    log.info('idempotent replay', { idempotencyKey });
    return { ...keyed.response, replayed: true };
  }
  const claim = keyed?.claim;

  let placed: DomainEvent<'OrderPlaced'>;
  let response: StoredResponse;
  try {
    placed = priceOrder(deps, input, keyed?.quote ?? (await store.quote(quoting)));
    const { orderId } = placed.data;
    response = {
      status: 202,
      headers: { location: `/orders/${orderId}`, 'x-correlation-id': placed.correlationId },
      // Stored as text, so a replay is byte for byte the same.
      body: JSON.stringify({ orderId, status: 'PLACED', correlationId: placed.correlationId }),
    };
    await store.recordOrder(placed, claim ? { claim, response } : undefined);
  } catch (error) {
    if (claim) await store.releaseKey(claim).catch(() => {});
    throw error;
  }

  log.info('order placed', { orderId: placed.data.orderId, totalMinor: placed.data.totalMinor });
  await outbox.publishCommitted([placed]);
  return { ...response, replayed: false };
}

function priceOrder(
  { source, maxOpenOrders, openOrdersRetryAfterSeconds }: PlaceOrderDeps,
  { request, correlationId }: PlaceOrderInput,
  { prices, now, openOrders }: Quote,
): DomainEvent<'OrderPlaced'> {
  // Checked before the write, not in it: concurrent requests of one customer may each pass,
  // so the cap may be exceeded by as many requests as are in flight at once.
  if (openOrders >= maxOpenOrders) {
    throw new TooManyOpenOrdersError(maxOpenOrders, openOrdersRetryAfterSeconds);
  }
  const issues: FieldIssue[] = request.items.flatMap(({ sku }, index) =>
    prices.has(sku) ? [] : [{ pointer: `/items/${index}/sku`, detail: `unknown sku ${sku}` }],
  );
  const otherCurrencies = request.items.filter(({ sku }) => {
    const currency = prices.get(sku)?.currency;
    return currency !== undefined && currency !== request.currency;
  });
  if (otherCurrencies.length > 0) {
    const skus = otherCurrencies.map(({ sku }) => sku).join(', ');
    issues.push({ pointer: '/currency', detail: `${skus} not priced in ${request.currency}` });
  }
  if (issues.length > 0) throw new ValidationError(issues);

  const items = request.items.map(({ sku, quantity }) => ({
    sku,
    quantity,
    unitPriceMinor: prices.get(sku)!.priceMinor,
  }));
  return createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId: request.customerId,
      currency: request.currency,
      items,
      totalMinor: items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
    },
    { source, correlationId, occurredAt: now },
  );
}
