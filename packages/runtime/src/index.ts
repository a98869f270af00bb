export {
  type BearerAuthOptions,
  type Caller,
  createBearerAuth,
  UnauthorizedError,
} from './bearer-auth';
export {
  baseConfigSchema,
  ConfigError,
  databaseConfigSchema,
  parseConfig,
  runsOnCloudRun,
} from './config';
export {
  type ConsumerOptions,
  createConsumer,
  type Handled,
  type IdempotentEffectConsumerOptions,
  type MessagePublishedData,
  UnprocessableEventError,
} from './consumer';
export { createFunctionResources } from './function-resources';
export {
  createHttpFunction,
  type HttpContext,
  type HttpFunctionOptions,
  type HttpResult,
  jsonBody,
} from './http-function';
export {
  type FieldIssue,
  ForbiddenError,
  MethodNotAllowedError,
  NotFoundError,
  type Problem,
  ValidationError,
} from './http-problems';
export { isRetryable } from './retryable';
export { createScheduledJob } from './scheduled-job';
