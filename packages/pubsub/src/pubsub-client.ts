import { PubSub } from '@google-cloud/pubsub';

export interface PubSubClientOptions {
  projectId: string;
  /** `host:port` of the Pub/Sub emulator; absent in production. */
  emulatorHost?: string | undefined;
}

/** One client per process: it holds the gRPC channels and the publishers' batches. */
export function createPubSubClient({ projectId, emulatorHost }: PubSubClientOptions): PubSub {
  return new PubSub(
    emulatorHost ? { projectId, apiEndpoint: emulatorHost, emulatorMode: true } : { projectId },
  );
}
