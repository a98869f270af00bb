export { createPaymentHandler, type PaymentHandlerOptions } from './payment-handler';
export type {
  ChargeDeclineCode,
  ChargeOutcome,
  ChargeRequest,
  PaymentProvider,
  RefundDeclineCode,
  RefundOutcome,
  RefundRequest,
  VoidOutcome,
  VoidRequest,
} from './payment-provider';
export {
  createPostgresPaymentStore,
  type PaymentRecord,
  type PaymentStore,
  type PaymentUnitOfWork,
  type PaymentUpdate,
} from './payment-store';
export { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
export {
  migrateSandboxLedger,
  type SandboxLedgerTables,
  sandboxLedgerExists,
} from './sandbox-ledger';
export {
  createSandboxProvider,
  type SandboxProvider,
  type SandboxProviderOptions,
} from './sandbox-provider';
export { createStripeProvider, type StripeProviderOptions } from './stripe-provider';
