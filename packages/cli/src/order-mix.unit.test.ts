import { describe, expect, it } from '@jest/globals';
import { seedProducts } from '@orders/db';
import { type CatalogProduct, type OrderScenario, planOrders, stockShortfall } from './order-mix';

/** The seeded catalog of @orders/db, as GET /products lists it. */
const catalog: CatalogProduct[] = seedProducts.map((product) => ({
  sku: product.sku,
  priceMinor: product.price_minor,
  currency: product.currency,
  stock: product.stock,
}));
const stockOf = new Map(catalog.map((product) => [product.sku, product.stock]));

function countScenarios(scenarios: OrderScenario[]) {
  const counts: Partial<Record<OrderScenario, number>> = {};
  for (const scenario of scenarios) counts[scenario] = (counts[scenario] ?? 0) + 1;
  return counts;
}

describe('planOrders', () => {
  it('is deterministic for a seed, and another seed gives another mix', () => {
    const first = planOrders({ count: 40, seed: 1234, products: catalog });
    expect(planOrders({ count: 40, seed: 1234, products: catalog })).toEqual(first);
    // The catalog's order does not matter either.
    expect(planOrders({ count: 40, seed: 1234, products: [...catalog].reverse() })).toEqual(first);
    expect(planOrders({ count: 40, seed: 1235, products: catalog })).not.toEqual(first);
  });

  it('holds exactly the shares of each scenario, shuffled', () => {
    const plan = planOrders({ count: 100, seed: 9, products: catalog });
    expect(countScenarios(plan.map((order) => order.scenario))).toEqual({
      standard: 66,
      'multi-line': 10,
      'out-of-stock': 8,
      declined: 6,
      'insufficient-funds': 5,
      'flaky-payment': 5,
    });
    // Not grouped by scenario: the first ten are not all standard orders.
    expect(new Set(plan.slice(0, 10).map((order) => order.scenario)).size).toBeGreaterThan(1);
  });

  it('gives a small run the rarer scenarios before more standard orders', () => {
    const scenarios = planOrders({ count: 5, seed: 3, products: catalog }).map((o) => o.scenario);
    expect(countScenarios(scenarios)).toEqual({ standard: 3, 'multi-line': 1, 'out-of-stock': 1 });
    expect(planOrders({ count: 1, seed: 3, products: catalog })).toHaveLength(1);
  });

  it.each([1000, 10_000])(
    'spreads %i orders over enough customers that none reaches the open-order cap',
    (count) => {
      // The intake refuses (429) a customer's 11th open order (MAX_OPEN_ORDERS_PER_CUSTOMER
      // 10); a large run has most of its orders open at once, so no customer may get more
      // than half of that in the whole run.
      const plan = planOrders({ count, seed: 7, products: catalog });
      const perCustomer = new Map<string, number>();
      for (const { body } of plan) {
        perCustomer.set(body.customerId, (perCustomer.get(body.customerId) ?? 0) + 1);
      }
      expect(Math.max(...perCustomer.values())).toBeLessThanOrEqual(5);
    },
  );

  it('builds each scenario as documented', () => {
    const plan = planOrders({ count: 300, seed: 42, products: catalog });
    for (const { scenario, body } of plan) {
      expect(body.currency).toBe('EUR');
      const skus = body.items.map((item) => item.sku);
      expect(new Set(skus).size).toBe(skus.length);
      for (const item of body.items) expect(Number.isInteger(item.quantity)).toBe(true);

      if (scenario === 'out-of-stock') {
        // More than the scarce product has, so it is cancelled whatever else is ordered.
        expect(body.items).toHaveLength(1);
        const [item] = body.items;
        expect(['RARE-001', 'GIFT-BOX']).toContain(item!.sku);
        expect(item!.quantity).toBeGreaterThan(stockOf.get(item!.sku)!);
        expect(body.customerId).toMatch(/^cust-\d+$/);
        continue;
      }
      // Everything else orders well-stocked products only, 1 to 3 of each.
      for (const item of body.items) {
        expect(stockOf.get(item.sku)).toBeGreaterThanOrEqual(10);
        expect(item.quantity).toBeGreaterThanOrEqual(1);
        expect(item.quantity).toBeLessThanOrEqual(3);
      }
      const lines = scenario === 'multi-line' ? [2, 4] : [1, 1];
      expect(body.items.length).toBeGreaterThanOrEqual(lines[0]!);
      expect(body.items.length).toBeLessThanOrEqual(lines[1]!);
      const prefix = {
        standard: 'cust-',
        'multi-line': 'cust-',
        declined: 'decline-',
        'insufficient-funds': 'nofunds-',
        'flaky-payment': 'flaky-cust-',
      }[scenario];
      expect(body.customerId.startsWith(prefix)).toBe(true);
    }
  });

  it('still plans when the catalog has sold out, and refuses an empty one', () => {
    const soldOut = catalog.map((product) => ({ ...product, stock: 0 }));
    const plan = planOrders({ count: 10, seed: 5, products: soldOut });
    expect(plan).toHaveLength(10);
    expect(() => planOrders({ count: 10, seed: 5, products: [] })).toThrow(/catalog is empty/);
  });
});

describe('stockShortfall', () => {
  it('finds none in the seeded catalog for the largest demo, whatever the seed', () => {
    for (const seed of [1, 2, 3, 42, 2026]) {
      const plan = planOrders({ count: 10_000, seed, products: catalog });
      expect(stockShortfall(plan, catalog)).toEqual([]);
    }
  });

  it('names each product a plan asks more of than is left, out-of-stock orders aside', () => {
    const plan = planOrders({ count: 1_000, seed: 5, products: catalog });
    // A dev stack that earlier runs emptied: 30 teapots left, and no filters.
    const emptied = catalog.map((product) =>
      product.sku === 'POT-001'
        ? { ...product, stock: 30 }
        : product.sku === 'FILTER-10'
          ? { ...product, stock: 0 }
          : product,
    );
    const wanted = (sku: string) =>
      plan
        .filter((order) => order.scenario !== 'out-of-stock')
        .flatMap((order) => order.body.items)
        .filter((item) => item.sku === sku)
        .reduce((sum, item) => sum + item.quantity, 0);
    expect(stockShortfall(plan, emptied)).toEqual([
      { sku: 'FILTER-10', stock: 0, wanted: wanted('FILTER-10') },
      { sku: 'POT-001', stock: 30, wanted: wanted('POT-001') },
    ]);
    expect(wanted('POT-001')).toBeGreaterThan(30);
    // The scarce products the out-of-stock orders ask for are short on purpose, not reported.
    expect(plan.some((order) => order.scenario === 'out-of-stock')).toBe(true);
  });
});
