import type { Request } from '@google-cloud/functions-framework';
import type { Database } from '@orders/db';
import { uuidPattern } from '@orders/events';
import { withoutTrailingSlashes } from '@orders/platform';
import {
  type Caller,
  type HttpContext,
  type HttpResult,
  jsonBody,
  MethodNotAllowedError,
  NotFoundError,
  ValidationError,
} from '@orders/runtime';
import type { Kysely } from 'kysely';
import { findOrder, listProducts } from './order-queries';
import { parseOrderRequest } from './order-request';
import { type PlaceOrderDeps, placeOrder } from './place-order';

export interface IntakeApiOptions extends PlaceOrderDeps {
  /** For the read side: orders and the catalog. */
  db: Kysely<Database>;
  /** Verifies the request's `Authorization` header: the caller is the customer. */
  authenticate(authorization: string | undefined): Promise<Caller>;
  maxItems: number;
  /** Most units one order may hold, its lines together. */
  maxQuantity: number;
}

/**
 * The end user's credentials: a gateway in front (API Gateway, a load balancer holding
 * `run.invoker`) puts its own token in `Authorization` and forwards the user's in
 * `X-Forwarded-Authorization`. Either way the token is verified: where it came from grants
 * nothing.
 */
const credentialsOf = (req: Request) =>
  req.get('x-forwarded-authorization') ?? req.get('authorization');

/** What a customer's own data is answered with: never kept by a shared cache. */
const private_ = { 'cache-control': 'no-store' };

const keyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The order intake API:
 * - `POST /orders` places an order for the authenticated customer (202,
 *   `Location: /orders/{id}`); honours `Idempotency-Key`, scoped to the caller;
 * - `GET /orders/{id}` shows one of the caller's orders and its status (anyone else's is
 *   404, as an unknown one);
 * - `GET /products` lists the catalog (public).
 */
export function createIntakeApi(options: IntakeApiOptions) {
  const { db, authenticate, maxItems, maxQuantity } = options;

  return async (req: Request, { log, correlationId }: HttpContext): Promise<HttpResult> => {
    const path = withoutTrailingSlashes(req.path) || '/';

    if (path === '/orders') {
      if (req.method !== 'POST') throw new MethodNotAllowedError(['POST']);
      const caller = await authenticate(credentialsOf(req));
      const body = jsonBody(req);
      const idempotencyKey = req.get('idempotency-key');
      if (idempotencyKey !== undefined && !keyPattern.test(idempotencyKey)) {
        throw new ValidationError([
          { header: 'Idempotency-Key', detail: 'must be 1 to 255 visible ASCII characters' },
        ]);
      }
      const request = parseOrderRequest(body, {
        maxItems,
        maxQuantity,
        customerId: caller.subject,
      });
      const result = await placeOrder(options, { request, correlationId, idempotencyKey, log });
      return {
        status: result.status,
        headers: {
          ...result.headers,
          ...private_,
          ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}),
        },
        body: result.body,
      };
    }

    const order = /^\/orders\/([^/]+)$/.exec(path);
    if (order) {
      if (req.method !== 'GET') throw new MethodNotAllowedError(['GET']);
      const caller = await authenticate(credentialsOf(req));
      const orderId = decodeURIComponent(order[1]!);
      const view = uuidPattern.test(orderId)
        ? await findOrder(db, orderId.toLowerCase(), caller.subject)
        : undefined;
      if (!view) throw new NotFoundError(`no order ${orderId}`);
      return { status: 200, headers: private_, body: view };
    }

    if (path === '/products') {
      if (req.method !== 'GET') throw new MethodNotAllowedError(['GET']);
      return {
        status: 200,
        headers: { 'cache-control': 'max-age=30' },
        body: await listProducts(db),
      };
    }

    throw new NotFoundError(`no route ${req.method} ${path}`);
  };
}
