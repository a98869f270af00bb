export { baseConfigSchema, ConfigError, parseConfig } from './config';
export {
  type ConsumerContext,
  type ConsumerOptions,
  createConsumer,
  type MessagePublishedData,
  UnprocessableEventError,
} from './consumer';
export {
  createHttpFunction,
  type HttpContext,
  type HttpFunctionOptions,
  type HttpResult,
  jsonBody,
} from './http-function';
export {
  type FieldIssue,
  MalformedJsonError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  type Problem,
  toProblem,
  UnsupportedMediaTypeError,
  ValidationError,
} from './http-problems';
export { createLogger, type LogFields, type Logger, type LogLevel, traceFields } from './logger';
