export { parseDeployArgs } from './deploy-args';
export { type DeployConfig, DeployConfigError, parseDeployConfig } from './deploy-config';
export {
  deployPlan,
  deploySteps,
  formatStep,
  functionEnvironment,
  type Step,
  serviceAccountEmail,
  serviceAccountId,
} from './deploy-plan';
export { functionSizing, type Sizing } from './function-sizing';
export { CommandFailedError, MissingArtifactError, runDeploy } from './run-deploy';
