export {
  type CloudSqlConnector,
  type CloudSqlLocation,
  createDb,
  type DbOptions,
} from './create-db';
export { migrateToLatest } from './migrations';
export type { Database, OrderStatus, StoredResponse } from './schema';
export { seedCatalog, seedProducts } from './seed';
export { isPermanentDbError, isTransientDbError } from './transient';
