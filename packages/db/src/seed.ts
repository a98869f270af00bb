import type { Kysely } from 'kysely';
import type { Database } from './schema';

/**
 * The demo catalog. Prices are minor units; stock is what the saga reserves from. The
 * well-stocked products hold enough for the largest `pnpm demo` (10,000 orders ask for about
 * 4,000 units of each: a test holds it), so that a big run measures the pipeline, not the
 * shelves; GIFT-BOX and RARE-001 are scarce on purpose (the mix's out-of-stock orders).
 */
export const seedProducts = [
  {
    sku: 'TEA-001',
    name: 'Sencha green tea, 100 g',
    price_minor: 1299,
    currency: 'EUR',
    stock: 10_000,
  },
  {
    sku: 'TEA-002',
    name: 'Assam breakfast tea, 250 g',
    price_minor: 899,
    currency: 'EUR',
    stock: 10_000,
  },
  { sku: 'MUG-001', name: 'Stoneware mug', price_minor: 1850, currency: 'EUR', stock: 10_000 },
  {
    sku: 'KETTLE-01',
    name: 'Gooseneck kettle',
    price_minor: 6400,
    currency: 'EUR',
    stock: 10_000,
  },
  { sku: 'POT-001', name: 'Cast-iron teapot', price_minor: 4500, currency: 'EUR', stock: 10_000 },
  {
    sku: 'FILTER-10',
    name: 'Paper filters, 100',
    price_minor: 350,
    currency: 'EUR',
    stock: 10_000,
  },
  { sku: 'GIFT-BOX', name: 'Tasting gift box', price_minor: 3900, currency: 'EUR', stock: 5 },
  {
    sku: 'RARE-001',
    name: 'First-flush Darjeeling, 50 g',
    price_minor: 2750,
    currency: 'EUR',
    stock: 0,
  },
] as const;

/** Inserts the demo catalog; products that already exist keep their price and stock. */
export async function seedCatalog(db: Kysely<Database>): Promise<void> {
  await db
    .insertInto('products')
    .values(seedProducts.map((product) => ({ ...product })))
    .onConflict((conflict) => conflict.column('sku').doNothing())
    .execute();
}
