/**
 * What tests need of the saga engine and production code does not:
 * `@orders/saga-engine/testing`.
 */
export { createInMemorySagaStore, type InMemorySagaStoreOptions } from './in-memory-saga-store';
