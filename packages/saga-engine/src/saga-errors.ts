import { messageOf } from '@orders/platform';

/** Another unit of work moved the saga first; the input is retried on the new state. */
export class SagaConflictError extends Error {
  override readonly name = 'SagaConflictError';
  readonly retryable = true;
  constructor(readonly sagaId: string) {
    super(`saga ${sagaId} changed concurrently`);
  }
}

/** The input arrived before what it depends on; Pub/Sub should deliver it again later. */
export class SagaNotReadyError extends Error {
  override readonly name = 'SagaNotReadyError';
  readonly retryable = true;
  constructor(
    readonly sagaId: string,
    readonly reason: string,
  ) {
    super(`saga ${sagaId}: ${reason}`);
  }
}

/** An input the saga can never take (an impossible transition): dead-letter it with `reason`. */
export class SagaInputRejectedError extends Error {
  override readonly name = 'SagaInputRejectedError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A compensation failed and was counted; the input is retried until the saga is parked. */
export class CompensationRetryError extends Error {
  override readonly name = 'CompensationRetryError';
  readonly retryable = true;
  constructor(
    readonly sagaId: string,
    override readonly cause: unknown,
  ) {
    super(`saga ${sagaId}: a compensation failed (${messageOf(cause)}); retried`, { cause });
  }
}
