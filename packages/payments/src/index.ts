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
export { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
export {
  createSandboxProvider,
  type SandboxProvider,
  type SandboxProviderOptions,
} from './sandbox-provider';
