export { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
export {
  createOutbox,
  type FailingRoute,
  type Outbox,
  type RelayOptions,
  type RelayReport,
  type SetAsideRow,
} from './outbox';
export { requestFingerprint } from './request-fingerprint';
