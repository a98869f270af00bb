import { z } from 'zod';
import { currencySchema, minorUnitsSchema } from './money';

const orderId = z.uuid();
const paymentId = z.string().min(1).max(200);
const sku = z
  .string()
  .regex(/^[A-Z0-9][A-Z0-9-]{0,63}$/, 'must be an upper-case SKU such as "TEA-001"');
const quantity = z.int().positive().max(1000);

const lineItem = z.strictObject({ sku, quantity, unitPriceMinor: minorUnitsSchema });

/**
 * OrderPlaced v1 is what the Python reference this project grew from declares: snake_case,
 * a float `total_amount` in major units, and neither currency nor lines; its producers still
 * publish it (a flat body, see pubsub-codec.ts). Earlier producers of this project's v1 also
 * sent `currency` and `items`, so both are read when present. Extra fields are ignored.
 * Upcast to v2: see upcast.ts.
 */
const orderPlacedV1 = z.object({
  order_id: orderId,
  customer_id: z.string().min(1).max(200),
  total_amount: z.number().nonnegative(),
  currency: currencySchema.optional(),
  items: z
    .array(z.object({ sku, quantity, unit_price: z.number().nonnegative() }))
    .min(1)
    .optional(),
});

/**
 * OrderPlaced v2, the latest. `items` is there for every order this system's intake places;
 * it is absent only for an order placed by a v1 producer that did not send its lines.
 */
const orderPlacedV2 = z
  .strictObject({
    orderId,
    customerId: z.string().min(1).max(200),
    currency: currencySchema,
    items: z.array(lineItem).min(1).max(50).optional(),
    totalMinor: minorUnitsSchema,
  })
  .refine(
    (order) =>
      order.items === undefined ||
      order.totalMinor ===
        order.items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
    { message: 'totalMinor must equal the sum of quantity × unitPriceMinor', path: ['totalMinor'] },
  );

const money = { amountMinor: minorUnitsSchema, currency: currencySchema };

/**
 * Every event type, each with its schema per version and the latest version that handlers
 * see. One schema per (type, version); an older version reaches handlers only through an
 * upcaster (see `upcast.ts`).
 */
export const catalog = {
  OrderPlaced: { latest: 2, schemas: { 1: orderPlacedV1, 2: orderPlacedV2 } },
  PaymentRequested: {
    latest: 1,
    schemas: {
      1: z.strictObject({ orderId, paymentId, customerId: z.string().min(1).max(200), ...money }),
    },
  },
  PaymentSucceeded: {
    latest: 1,
    schemas: {
      1: z.strictObject({ orderId, paymentId, providerRef: z.string().min(1).max(200), ...money }),
    },
  },
  PaymentFailed: {
    latest: 1,
    schemas: {
      1: z.strictObject({
        orderId,
        paymentId,
        /** `voided`: the payment was voided (its order timed out) before it could be charged. */
        reason: z.enum(['declined', 'insufficient_funds', 'fraud_suspected', 'voided']),
        message: z.string().max(500).optional(),
      }),
    },
  },
  RefundRequested: {
    latest: 1,
    schemas: {
      1: z.strictObject({
        orderId,
        paymentId,
        ...money,
        /**
         * `payment_timeout`: the order gave up waiting; the payment is voided if it was never
         * charged, refunded if it was. `late_payment`: it succeeded after the order was cancelled.
         */
        reason: z.enum(['payment_timeout', 'late_payment']),
      }),
    },
  },
  PaymentRefunded: {
    latest: 1,
    schemas: {
      1: z.strictObject({
        orderId,
        paymentId,
        refundId: z.string().min(1).max(200),
        /** `void`: nothing had been charged, so nothing was paid back (amountMinor is 0). */
        kind: z.enum(['refund', 'void']),
        ...money,
      }),
    },
  },
  OrderConfirmed: {
    latest: 1,
    schemas: {
      1: z.strictObject({ orderId, totalMinor: minorUnitsSchema, currency: currencySchema }),
    },
  },
  OrderCancelled: {
    latest: 1,
    schemas: {
      1: z.strictObject({
        orderId,
        reason: z.enum(['out_of_stock', 'payment_declined', 'payment_timeout']),
        detail: z.string().max(500).optional(),
      }),
    },
  },
} as const;

export type EventType = keyof typeof catalog;
export type LatestVersion<T extends EventType> = (typeof catalog)[T]['latest'];
type Schemas<T extends EventType> = (typeof catalog)[T]['schemas'];

/** The data of an event type at its latest version: what handlers receive. */
export type EventData<T extends EventType> = z.output<
  Schemas<T>[LatestVersion<T> & keyof Schemas<T>]
>;

export const eventTypes = Object.keys(catalog) as EventType[];

function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalog, type);
}

/** The schema of one (type, version), or undefined when the catalog has no such pair. */
export function schemaOf(type: string, version: number): z.ZodType | undefined {
  if (!isEventType(type)) return undefined;
  const schemas: Record<number, z.ZodType> = catalog[type].schemas;
  return Object.hasOwn(schemas, version) ? schemas[version] : undefined;
}

export { quantity as quantitySchema, sku as skuSchema };

/**
 * The one payment of an order, as the order saga names it and the payment service holds it:
 * no event can open a second payment of an order (and a second charge).
 */
export const paymentIdOf = (orderId: string) => `pay_${orderId}`;
