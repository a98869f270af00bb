/**
 * What tests and benchmarks need of ordering and production code does not:
 * `@orders/ordering/testing`.
 */
export { insertPlacedOrder } from './intake-store';
