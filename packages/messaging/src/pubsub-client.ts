import { PubSub } from '@google-cloud/pubsub';

export interface PubSubClientOptions {
  projectId: string;
  /** `host:port` of the Pub/Sub emulator; absent in production. */
  emulatorHost?: string | undefined;
}

/** One client per process: it holds the gRPC channels and the publishers' batches. */
export function createPubSubClient({ projectId, emulatorHost }: PubSubClientOptions): PubSub {
  return new PubSub(
    emulatorHost
      ? // The universe domain, given, spares a metadata-server lookup that fails off Google Cloud.
        {
          projectId,
          apiEndpoint: emulatorHost,
          emulatorMode: true,
          universeDomain: 'googleapis.com',
        }
      : { projectId },
  );
}
