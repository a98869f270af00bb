import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderStatus } from '@orders/ordering';
import { withoutTrailingSlashes } from '@orders/platform';
import type { CatalogProduct, PlannedOrder } from './order-mix';

/** `GET /orders/{id}`, the fields the demo reads. */
export interface OrderState {
  orderId: string;
  status: OrderStatus;
  cancelReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The order intake API of the place-order function. */
export interface IntakeClient {
  listProducts(): Promise<CatalogProduct[]>;
  /**
   * Places an order as its customer; a retry with the same key is safe (the intake replays
   * its answer).
   */
  placeOrder(order: PlannedOrder['body'], idempotencyKey: string): Promise<{ orderId: string }>;
  /** An order, as its customer sees it (only they may). */
  getOrder(orderId: string, customerId: string): Promise<OrderState>;
}

/** No answer from the intake at all (connection refused, timeouts) after the retries. */
export class IntakeUnreachableError extends Error {
  override readonly name = 'IntakeUnreachableError';
}

/** The intake answered with an error that a retry will not change, or kept failing. */
export class IntakeRequestError extends Error {
  override readonly name = 'IntakeRequestError';
  constructor(
    readonly status: number,
    readonly problem: string,
    what: string,
  ) {
    super(`${what}: ${status} ${problem}`);
  }
}

/** A bearer token for a customer: what the intake authenticates each request with. */
export type TokenSource = (customerId: string) => Promise<string>;

export interface HttpIntakeClientOptions {
  tokens: TokenSource;
  /** Attempts per request, including the first; default 6. */
  attempts?: number;
  /** Per attempt; default 10 s. */
  requestTimeoutMs?: number;
  /** Before the second attempt, doubling after; default 200 ms. */
  backoffMs?: number;
}

/**
 * The intake over HTTP (global fetch). Connection failures, timeouts, 5xx, 429 and 409 (the
 * same Idempotency-Key still in flight) are retried with backoff, honouring Retry-After;
 * any other 4xx is an IntakeRequestError at once.
 */
export function createHttpIntakeClient(
  baseUrl: string,
  { tokens, attempts = 6, requestTimeoutMs = 10_000, backoffMs = 200 }: HttpIntakeClientOptions,
): IntakeClient {
  const base = withoutTrailingSlashes(baseUrl);

  async function request<T>(what: string, path: string, init: RequestInit = {}): Promise<T> {
    let lastProblem: { status: number; problem: string } | undefined;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      let wait = backoffMs * 2 ** (attempt - 1);
      try {
        const response = await fetch(`${base}${path}`, {
          ...init,
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        if (response.ok) return (await response.json()) as T;
        const problem = await describeProblem(response);
        lastProblem = { status: response.status, problem };
        if (!isRetryable(response.status))
          throw new IntakeRequestError(response.status, problem, what);
        wait = Math.max(wait, retryAfterMs(response.headers.get('retry-after')));
      } catch (error) {
        if (error instanceof IntakeRequestError) throw error;
        lastError = error;
      }
      if (attempt < attempts) await sleep(Math.min(wait, 5_000));
    }
    if (lastProblem) throw new IntakeRequestError(lastProblem.status, lastProblem.problem, what);
    throw new IntakeUnreachableError(
      `${what}: no answer from ${base} after ${attempts} attempts: ${describeError(lastError)}`,
      { cause: lastError },
    );
  }

  return {
    listProducts: () => request<CatalogProduct[]>('GET /products', '/products'),
    placeOrder: async (order, idempotencyKey) =>
      request<{ orderId: string }>('POST /orders', '/orders', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': idempotencyKey,
          authorization: `Bearer ${await tokens(order.customerId)}`,
        },
        body: JSON.stringify(order),
      }),
    getOrder: async (orderId, customerId) =>
      request<OrderState>(`GET /orders/${orderId}`, `/orders/${encodeURIComponent(orderId)}`, {
        headers: { authorization: `Bearer ${await tokens(customerId)}` },
      }),
  };
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 409 || status === 408;
}

function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

async function describeProblem(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const problem = JSON.parse(text) as { detail?: string; title?: string };
    return problem.detail ?? problem.title ?? text;
  } catch {
    return text.slice(0, 200) || response.statusText;
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
