export { createDb, createPool, type DbOptions } from './create-db';
export { migrateToLatest } from './migrations';
export {
  type Database,
  type OrderStatus,
  orderStatuses,
  type StoredResponse,
} from './schema';
export { seedCatalog, seedProducts } from './seed';
export { isTransientDbError } from './transient';
