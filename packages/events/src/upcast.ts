import { toMinorUnits } from './money';

/** What an upcaster may need besides the data: settings of the consumer that decodes. */
export interface UpcastContext {
  /** The currency of a v1 OrderPlaced that names none (LEGACY_CURRENCY). */
  legacyCurrency: string;
}

/**
 * Upcasters lift the data of one version of an event type to the next. Decoding applies
 * them in a chain up to the latest version, then validates the result against the latest
 * schema, so a handler only ever sees the latest shape.
 */
type Upcaster = (data: never, context: UpcastContext) => unknown;

const upcasters: Record<string, Upcaster> = {
  // Float amounts become minor units by the rule of toMinorUnits (shortest spelling, half up).
  'OrderPlaced@1': (
    data: {
      order_id: string;
      customer_id: string;
      total_amount: number;
      currency?: string;
      items?: { sku: string; quantity: number; unit_price: number }[];
    },
    { legacyCurrency }: UpcastContext,
  ) => {
    const currency = data.currency ?? legacyCurrency;
    return {
      orderId: data.order_id,
      customerId: data.customer_id,
      currency,
      ...(data.items && {
        items: data.items.map((item) => ({
          sku: item.sku,
          quantity: item.quantity,
          unitPriceMinor: toMinorUnits(item.unit_price, currency),
        })),
      }),
      totalMinor: toMinorUnits(data.total_amount, currency),
    };
  },
};

export function upcasterFor(type: string, fromVersion: number): Upcaster | undefined {
  return upcasters[`${type}@${fromVersion}`];
}
