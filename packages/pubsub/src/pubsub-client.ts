import type { PubSub } from '@google-cloud/pubsub';

export interface PubSubClientOptions {
  projectId: string;
  /** `host:port` of the Pub/Sub emulator; absent in production. */
  emulatorHost?: string | undefined;
}

/**
 * One client per process: it holds the gRPC channels and the publishers' batches. The
 * library is loaded here, on the first call, not when this module is imported: it costs about
 * a second and 50 MiB, which a function that makes its client on first use (see
 * `PubSubSource`) pays only when it first publishes.
 */
export function createPubSubClient({ projectId, emulatorHost }: PubSubClientOptions): PubSub {
  const library = require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
  return new library.PubSub(
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
