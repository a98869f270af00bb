import { emulatorClient } from './topology-setup';

export interface Scheduler {
  stop(): Promise<void>;
}

/**
 * Publishes a tick to `topic` every `intervalMs`, as the Cloud Scheduler job does in
 * production (its body is ignored by the housekeeping function).
 */
export function startScheduler(options: {
  emulatorHost: string;
  projectId: string;
  topic: string;
  intervalMs: number;
  log: (line: string) => void;
}): Scheduler {
  const pubsub = emulatorClient(options);
  const topic = pubsub.topic(options.topic);
  let ticking: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const tick = { job: options.topic, scheduledAt: new Date().toISOString() };
    ticking = topic
      .publishMessage({ json: tick })
      .catch((error: Error) => options.log(`scheduler: tick failed: ${error.message}`));
  }, options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await ticking;
      await pubsub.close();
    },
  };
}
