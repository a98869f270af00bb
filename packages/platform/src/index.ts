export { forEachConcurrently } from './for-each-concurrently';
export { type Authorize, applicationDefaultCredentials } from './google-authorization';
export { type GroupedCallsOptions, groupedCalls } from './grouped-calls';
export {
  housekeepingSettingsSchema,
  sagaOverdueSettingsSchema,
} from './housekeeping-settings';
export {
  type HttpAnswer,
  type HttpCalls,
  httpCalls,
  isTransientStatus,
  parseJsonObject,
} from './http-calls';
export {
  childSpan,
  createLogger,
  formatTraceparent,
  type LogFields,
  type Logger,
  type LogLevel,
  parseTraceContext,
  type TraceContext,
  traceFields,
} from './logger';
export { messageOf, stackOf } from './message-of';
export { percentile } from './percentile';
export { ProblemError, type ProblemErrorOptions } from './problem-error';
export { productionIssuerProblem } from './production-issuer';
export { projectIdPattern } from './project-id';
export { seededShare } from './seeded-share';
export { type TextTableOptions, textTable } from './text-table';
export { withoutTrailingSlashes } from './trailing-slashes';
export { UsageError } from './usage-error';
