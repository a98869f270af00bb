export {
  type CloudSqlConnector,
  type CloudSqlLocation,
  createDb,
  type DbOptions,
} from './create-db';
export {
  type DatabaseFunction,
  type FunctionRoleGrant,
  functionDatabaseUser,
  functionRoles,
  grantFunctionRoles,
} from './function-roles';
export { migrateToLatest } from './migrations';
export type { Database, OrderStatus, StoredResponse } from './schema';
export { seedCatalog, seedProducts } from './seed';
export { isPermanentDbError, isTransientDbError } from './transient';
