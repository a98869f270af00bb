import { toMinorUnits } from './money';

/**
 * Upcasters lift the data of one version of an event type to the next. Decoding applies
 * them in a chain up to the latest version, then validates the result against the latest
 * schema, so a handler only ever sees the latest shape.
 */
type Upcaster = (data: never) => unknown;

const upcasters: Record<string, Upcaster> = {
  'OrderPlaced@1': (data: {
    order_id: string;
    customer_id: string;
    total_amount: number;
    currency: string;
    items: { sku: string; quantity: number; unit_price: number }[];
  }) => ({
    orderId: data.order_id,
    customerId: data.customer_id,
    currency: data.currency,
    items: data.items.map((item) => ({
      sku: item.sku,
      quantity: item.quantity,
      unitPriceMinor: toMinorUnits(item.unit_price, data.currency),
    })),
    totalMinor: toMinorUnits(data.total_amount, data.currency),
  }),
};

export function upcasterFor(type: string, fromVersion: number): Upcaster | undefined {
  return upcasters[`${type}@${fromVersion}`];
}
