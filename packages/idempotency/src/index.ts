export { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
export {
  type Claim,
  createIdempotencyKeyStore,
  type IdempotencyKeyStore,
  type IdempotencyKeyStoreOptions,
  purgeExpiredKeys,
  requestFingerprint,
} from './idempotency-key-store';
export { claimEvent } from './inbox';
export {
  createOutbox,
  type FailingRoute,
  type Outbox,
  outboxInsert,
  outboxResendTo,
  outboxRows,
  type RelayOptions,
  type RelayReport,
  type SetAsideRow,
} from './outbox';
