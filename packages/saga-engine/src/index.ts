export {
  type DecideContext,
  type Decision,
  decision,
  type EventDraft,
  isCompensation,
  isLegalTransition,
  NEW,
  type Outcome,
  type Parking,
  type SagaDefinition,
  type SagaIntent,
  type SagaState,
} from './saga';
export { sagaDiagram } from './saga-diagram';
export {
  type Applied,
  type ApplyOptions,
  createSagaEngine,
  type SagaEngine,
  type SagaEngineOptions,
  type SagaLog,
} from './saga-engine';
export {
  CompensationRetryError,
  SagaConflictError,
  SagaInputRejectedError,
  SagaNotReadyError,
} from './saga-errors';
export type {
  DueSaga,
  SagaChange,
  SagaStore,
  SagaUnitOfWork,
  SavedSaga,
  Transition,
} from './saga-store';
