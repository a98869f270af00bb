import { createServer } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { startPubSubEmulator } from './pubsub-emulator';
import { isProcessAlive, testProjectId } from './test-harness';
import { emulatorClient } from './topology-setup';

// No PUBSUB_EMULATOR_HOST: these tests start their own emulator, not the global one.
const env = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME };

describe('startPubSubEmulator', () => {
  it('starts the emulator, serves the Pub/Sub API, and leaves no JVM behind on stop', async () => {
    const emulator = await startPubSubEmulator({ env });
    try {
      expect(emulator.host).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(isProcessAlive(emulator.pid!)).toBe(true);
      const pubsub = emulatorClient({
        projectId: testProjectId('emulator'),
        emulatorHost: emulator.host,
      });
      try {
        const [topic] = await pubsub.createTopic('emulator-test');
        expect(topic.name).toMatch(/\/topics\/emulator-test$/);
      } finally {
        await pubsub.close();
      }
    } finally {
      await emulator.stop();
    }
    expect(isProcessAlive(emulator.pid!)).toBe(false);
    await emulator.stop();
  }, 60_000);

  it('reports the output of an emulator that fails to start, and stops its JVM', async () => {
    // Hold the port so the JVM fails to bind it (it then hangs rather than exits).
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const log: string[] = [];
      await expect(
        startPubSubEmulator({ env, port, log: (line) => log.push(line) }),
      ).rejects.toThrow(/Pub\/Sub emulator failed to start:.*BindException/s);
      const pid = Number(/starting \(pid (\d+)\)/.exec(log.join('\n'))?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('fails clearly when the SDK has no emulator', async () => {
    await expect(startPubSubEmulator({ env, sdkRoot: '/nonexistent-sdk' })).rejects.toThrow(
      /No Pub\/Sub emulator at \/nonexistent-sdk/,
    );
  }, 30_000);

  it('uses PUBSUB_EMULATOR_HOST when given and owns no process', async () => {
    const host = process.env.PUBSUB_EMULATOR_HOST!;
    const emulator = await startPubSubEmulator({ env: { PUBSUB_EMULATOR_HOST: host } });
    expect(emulator.host).toBe(host);
    expect(emulator.pid).toBeUndefined();
    await emulator.stop();
  }, 30_000);
});
