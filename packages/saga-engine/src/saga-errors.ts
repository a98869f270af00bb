/** Another transaction moved the saga first; the input is retried on the new state. */
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
