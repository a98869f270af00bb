import type { Request } from '@google-cloud/functions-framework';
import type { Database } from '@orders/db';
import { uuidPattern } from '@orders/events';
import { withoutTrailingSlashes } from '@orders/platform';
import {
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
  maxItems: number;
}

const keyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The order intake API:
 * - `POST /orders` places an order (202, `Location: /orders/{id}`); honours `Idempotency-Key`;
 * - `GET /orders/{id}` shows an order and its status;
 * - `GET /products` lists the catalog.
 */
export function createIntakeApi(options: IntakeApiOptions) {
  const { db, maxItems } = options;

  return async (req: Request, { log, correlationId }: HttpContext): Promise<HttpResult> => {
    const path = withoutTrailingSlashes(req.path) || '/';

    if (path === '/orders') {
      if (req.method !== 'POST') throw new MethodNotAllowedError(['POST']);
      const body = jsonBody(req);
      const idempotencyKey = req.get('idempotency-key');
      if (idempotencyKey !== undefined && !keyPattern.test(idempotencyKey)) {
        throw new ValidationError([
          { header: 'Idempotency-Key', detail: 'must be 1 to 255 visible ASCII characters' },
        ]);
      }
      const request = parseOrderRequest(body, { maxItems });
      const result = await placeOrder(options, { request, correlationId, idempotencyKey, log });
      return {
        status: result.status,
        headers: {
          ...result.headers,
          ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}),
        },
        body: result.body,
      };
    }

    const order = /^\/orders\/([^/]+)$/.exec(path);
    if (order) {
      if (req.method !== 'GET') throw new MethodNotAllowedError(['GET']);
      const orderId = decodeURIComponent(order[1]!);
      const view = uuidPattern.test(orderId)
        ? await findOrder(db, orderId.toLowerCase())
        : undefined;
      if (!view) throw new NotFoundError(`no order ${orderId}`);
      return { status: 200, body: view };
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
