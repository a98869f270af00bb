export {
  type FunctionProcess,
  type FunctionProcessOptions,
  type SignatureType,
  startFunction,
} from './function-process';
export {
  type FunctionSpec,
  isBuilt,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from './local-stack';
export {
  createDatabase,
  dropDatabase,
  findPostgresBin,
  type PostgresOptions,
  type PostgresServer,
  startPostgres,
} from './postgres-server';
export {
  findCloudSdk,
  type PubSubEmulator,
  type PubSubEmulatorOptions,
  startPubSubEmulator,
} from './pubsub-emulator';
export { pullMessages } from './pull-messages';
export type { ProcessExit } from './spawn-managed';
export { startTcpProxy, type TcpProxy } from './tcp-proxy';
export { isProcessAlive, type TestDatabase, testDatabase, testProjectId } from './test-harness';
export {
  type CreatedTopology,
  createTopology,
  emulatorClient,
  pushEndpoint,
  type TopologyOptions,
} from './topology-setup';
