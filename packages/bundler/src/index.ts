export {
  BundleError,
  bundleFunction,
  ConflictingDependencyError,
  type FunctionArtifact,
  UnknownFunctionError,
} from './bundle-function';
