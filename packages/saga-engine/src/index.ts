export { type ApplyContext, createSagaEngine, type Effects, type SagaRow } from './saga-engine';
export { SagaConflictError, SagaNotReadyError } from './saga-errors';
