export {
  type BearerAuthOptions,
  type Caller,
  createBearerAuth,
  customerSubject,
  UnauthorizedError,
} from './bearer-auth';
export {
  always,
  baseConfigSchema,
  ConfigError,
  databaseConfigSchema,
  parseConfig,
  present,
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
export { runInSpan } from './tracing';
