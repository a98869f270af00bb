import type { PubSub } from '@google-cloud/pubsub';

export interface PubSubClientOptions {
  projectId: string;
  /** `host:port` of the Pub/Sub emulator; absent in production. */
  emulatorHost?: string | undefined;
}

/**
 * One client per process: it holds the gRPC channels and the publishers' batches. The library
 * (and the OpenTelemetry API it loads) is loaded on the first call: a function, which
 * publishes through the REST publisher, never loads it.
 */
export function createPubSubClient({ projectId, emulatorHost }: PubSubClientOptions): PubSub {
  const { PubSub } = require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
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
