import type { Kysely } from 'kysely';
import type { Database } from './schema';

/** The demo catalog. Prices are minor units; stock is what the saga reserves from. */
export const seedProducts = [
  {
    sku: 'TEA-001',
    name: 'Sencha green tea, 100 g',
    price_minor: 1299,
    currency: 'EUR',
    stock: 500,
  },
  {
    sku: 'TEA-002',
    name: 'Assam breakfast tea, 250 g',
    price_minor: 899,
    currency: 'EUR',
    stock: 500,
  },
  { sku: 'MUG-001', name: 'Stoneware mug', price_minor: 1850, currency: 'EUR', stock: 200 },
  { sku: 'KETTLE-01', name: 'Gooseneck kettle', price_minor: 6400, currency: 'EUR', stock: 50 },
  { sku: 'POT-001', name: 'Cast-iron teapot', price_minor: 4500, currency: 'EUR', stock: 30 },
  { sku: 'FILTER-10', name: 'Paper filters, 100', price_minor: 350, currency: 'EUR', stock: 1000 },
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
