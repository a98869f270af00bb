export { LockfileError } from './artifact-lockfile';
export {
  BundleError,
  bundleEntry,
  bundleFunction,
  ConflictingDependencyError,
  type FunctionArtifact,
  UnknownFunctionError,
} from './bundle-function';
export { parseDeployArgs } from './deploy-args';
export {
  type DeployConfig,
  DeployConfigError,
  parseDeployConfig,
  requiredDeploySettings,
} from './deploy-config';
export {
  buildServiceAccount,
  deployPlan,
  deploySteps,
  dockerRepository,
  formatStep,
  functionEnvironment,
  PaymentProviderRefusedError,
  type PlanOptions,
  SizingRefusedError,
  type Step,
  serviceAccountEmail,
  serviceAccountId,
  stripeSecret,
  usesDatabase,
} from './deploy-plan';
export { type FunctionName, functions, type Trigger } from './deployed-functions';
export {
  databaseConnections,
  functionConnectionBudget,
  functionSizing,
  type Sizing,
} from './function-sizing';
export { CommandFailedError, MissingArtifactError, runDeploy } from './run-deploy';
export { terraformTopology } from './terraform-topology';
