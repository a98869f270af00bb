export {
  builderProjectRoles,
  checkAccessPolicy,
  deployerProjectRoles,
  paymentProviderSecret,
} from './access-policy';
export { checkAlertPolicy, loadRunbooks, type Runbooks } from './alert-policy';
export {
  changedFunctions,
  functionInputs,
  sharedInputs,
  UnknownFunctionError,
  type WorkspaceManifest,
} from './function-inputs';
export { checkInfraPolicy, type TopologyVariables } from './infra-policy';
export {
  extractField,
  type LogEntry,
  type LogMetric,
  logEntryOf,
  logMetrics,
  matchesLogFilter,
  UnsupportedLogFilterError,
} from './log-metrics';
export {
  type HclBody,
  loadTerraform,
  parseTerraform,
  type TerraformConfig,
  TerraformParseError,
} from './terraform-config';
export { checkWorkflowPolicy, loadWorkflows, node24Majors } from './workflow-policy';
