import { seededRandom } from '@orders/local-stack';

/** A product as `GET /products` lists it. */
export interface CatalogProduct {
  sku: string;
  priceMinor: number;
  currency: string;
  stock: number;
}

/** What an order of the mix is meant to exercise; its outcome is whatever the stack decides. */
export type OrderScenario =
  | 'standard'
  | 'multi-line'
  | 'out-of-stock'
  | 'declined'
  | 'insufficient-funds'
  | 'flaky-payment';

export interface PlannedOrder {
  scenario: OrderScenario;
  /** The `POST /orders` body. */
  body: {
    customerId: string;
    currency: string;
    items: { sku: string; quantity: number }[];
  };
}

/**
 * Shares of the mix. Customer id prefixes pick the sandbox payment provider's outcome (see
 * docs/payments.md, "The sandbox provider"): `decline-` is declined, `nofunds-` has insufficient funds,
 * `flaky-` fails transiently twice before it is charged.
 */
export const scenarioShares: Readonly<Record<OrderScenario, number>> = {
  standard: 0.66,
  'multi-line': 0.1,
  'out-of-stock': 0.08,
  declined: 0.06,
  'insufficient-funds': 0.05,
  'flaky-payment': 0.05,
};

/** Stock below this is scarce: ordering it is how the mix runs out of stock. */
const scarceBelow = 10;
/**
 * Orders per customer in a whole run, at most: half the intake's default cap of open orders
 * per customer (MAX_OPEN_ORDERS_PER_CUSTOMER 10), since a large run has most of its orders
 * open at once, and a refusal (429) would be the demo's doing, not the stack's.
 */
const ordersPerCustomer = 5;
const minimumCustomers = 200;

/**
 * The orders of one demo run, deterministic for a seed: exactly the shares of
 * `scenarioShares` (largest remainders, so a small run still gets the rare scenarios
 * first), in a shuffled order.
 * - standard: one line of a well-stocked product, quantity 1 to 3;
 * - multi-line: 2 to 4 distinct well-stocked products;
 * - out-of-stock: a scarce product (RARE-001 has none; GIFT-BOX has 5) for more than is
 *   left, so the order is cancelled however the other orders race;
 * - declined / insufficient-funds / flaky-payment: a standard order by a customer whose
 *   id carries the sandbox provider's prefix.
 * Customers are dealt in turn from a random start, at least 200 of each id prefix and
 * enough that none places more than `ordersPerCustomer` orders.
 */
export function planOrders({
  count,
  seed,
  products,
}: {
  count: number;
  seed: number;
  products: readonly CatalogProduct[];
}): PlannedOrder[] {
  if (products.length === 0) throw new Error('the catalog is empty: nothing to order');
  const random = seededRandom(seed);
  const pick = <T>(from: readonly T[]): T => from[Math.floor(random() * from.length)]!;
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

  const byStock = [...products].sort((a, b) => b.stock - a.stock || a.sku.localeCompare(b.sku));
  const plentiful = byStock.filter((product) => product.stock >= scarceBelow);
  const stocked = plentiful.length > 0 ? plentiful : byStock.filter((p) => p.stock > 0);
  const orderable = stocked.length > 0 ? stocked : byStock;
  const scarce = byStock.filter((product) => product.stock < scarceBelow);
  const scarcePool = scarce.length > 0 ? scarce : [byStock[byStock.length - 1]!];
  const currency = pick(orderable).currency;
  const sameCurrency = (pool: readonly CatalogProduct[]) => {
    const matching = pool.filter((product) => product.currency === currency);
    return matching.length > 0 ? matching : pool;
  };
  const lines = sameCurrency(orderable);

  const oneLine = () => [{ sku: pick(lines).sku, quantity: between(1, 3) }];
  // Each id prefix deals its customers in turn: a customer's orders are spread over the run.
  const customers = Math.max(minimumCustomers, Math.ceil(count / ordersPerCustomer));
  const dealt = new Map<string, number>();
  const customer = (prefix: string) => {
    const next = dealt.get(prefix) ?? between(0, customers - 1);
    dealt.set(prefix, next + 1);
    return `${prefix}${(next % customers) + 1}`;
  };

  const standard = (prefix: string) => (): PlannedOrder['body'] => ({
    customerId: customer(prefix),
    currency,
    items: oneLine(),
  });
  const bodies: Record<OrderScenario, () => PlannedOrder['body']> = {
    standard: standard('cust-'),
    'multi-line': () => {
      const count = between(2, Math.min(4, Math.max(2, lines.length)));
      const skus = shuffle(
        lines.map((product) => product.sku),
        random,
      ).slice(0, count);
      return {
        customerId: customer('cust-'),
        currency,
        items: skus.map((sku) => ({ sku, quantity: between(1, 3) })),
      };
    },
    'out-of-stock': () => {
      const product = pick(scarcePool);
      return {
        customerId: customer('cust-'),
        currency: product.currency,
        items: [{ sku: product.sku, quantity: Math.min(1000, product.stock + 1) }],
      };
    },
    declined: standard('decline-'),
    'insufficient-funds': standard('nofunds-'),
    'flaky-payment': standard('flaky-cust-'),
  };
  return shuffle(allocate(count), random).map((scenario) => ({
    scenario,
    body: bodies[scenario](),
  }));
}

/** A product the plan asks for more of than the catalog holds. */
export interface ShortStock {
  sku: string;
  stock: number;
  /** Units the plan's orders ask for, out-of-stock scenarios aside (those are short on purpose). */
  wanted: number;
}

/**
 * The products whose stock cannot serve every order of `plan` that is meant to get it: such
 * orders would be cancelled `out_of_stock`, and the run would measure the shelves (a dev stack
 * that earlier runs emptied) rather than the pipeline.
 */
export function stockShortfall(
  plan: readonly PlannedOrder[],
  products: readonly CatalogProduct[],
): ShortStock[] {
  const wanted = new Map<string, number>();
  for (const order of plan) {
    if (order.scenario === 'out-of-stock') continue;
    for (const item of order.body.items) {
      wanted.set(item.sku, (wanted.get(item.sku) ?? 0) + item.quantity);
    }
  }
  return products
    .filter((product) => (wanted.get(product.sku) ?? 0) > product.stock)
    .map((product) => ({
      sku: product.sku,
      stock: product.stock,
      wanted: wanted.get(product.sku)!,
    }))
    .sort((a, b) => a.sku.localeCompare(b.sku));
}

/** Exactly `count` scenarios in the shares' proportions (largest-remainder rounding). */
function allocate(count: number): OrderScenario[] {
  const entries = Object.entries(scenarioShares) as [OrderScenario, number][];
  const quotas = entries.map(([scenario, share], index) => {
    const exact = share * count;
    return { scenario, index, whole: Math.floor(exact), remainder: exact - Math.floor(exact) };
  });
  let left = count - quotas.reduce((sum, quota) => sum + quota.whole, 0);
  // The rarest scenarios win ties, so a run of 5 shows more than standard orders.
  const byRemainder = [...quotas].sort(
    (a, b) =>
      b.remainder - a.remainder ||
      scenarioShares[a.scenario] - scenarioShares[b.scenario] ||
      a.index - b.index,
  );
  for (const quota of byRemainder) {
    if (left === 0) break;
    quota.whole += 1;
    left -= 1;
  }
  return quotas.flatMap((quota) => Array<OrderScenario>(quota.whole).fill(quota.scenario));
}

/** Fisher-Yates with the given generator. */
function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled;
}
