export { type DevIssuer, type DevSigningKey, signDevToken, startDevIssuer } from './dev-issuer';
export {
  alreadyRunning,
  claimDevStack,
  type DevStackClaim,
  devStackLockFile,
  pidIn,
  type RunningDevStack,
  writeDevStackFile,
} from './dev-stack-file';
export { freePort } from './free-port';
export { freshLocalWarehouse, throwawayWarehouse } from './fresh-warehouse';
export { type FunctionProcess, startFunction } from './function-process';
export {
  type GoogleApiDouble,
  type GoogleApiReply,
  type GoogleApiRequest,
  type InsertedRow,
  startGoogleApiDouble,
} from './google-api-double';
export { lineSink } from './line-sink';
export {
  type DevAuth,
  devStackFile,
  type FunctionSpec,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from './local-stack';
export { type PostgresServer, queryOnce, startPostgres } from './postgres-server';
export { skewProcessClock } from './process-clock';
export { type PubSubEmulator, startPubSubEmulator } from './pubsub-emulator';
export { type PubSubProxy, startPubSubProxy } from './pubsub-proxy';
export { pullMessages } from './pull-messages';
export { seededRandom } from './seeded-random';
export { pushRequestBody, type ServedFunction, serveFunction } from './served-function';
export { startTcpProxy, type TcpProxy } from './tcp-proxy';
export {
  isProcessAlive,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from './test-harness';
export { createTopology, emulatorClient, type TopologyOptions } from './topology-setup';
export { waiterShowing } from './wait-for';
