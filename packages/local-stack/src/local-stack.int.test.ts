import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createDb } from '@orders/db';
import { lineSink } from './line-sink';
import { type FunctionSpec, startLocalStack } from './local-stack';
import { createDatabase } from './postgres-server';
import { isProcessAlive, testProjectId } from './test-harness';
import { emulatorClient } from './topology-setup';
import { waiterShowing } from './wait-for';

const fixtures: Record<'echo' | 'recorder', FunctionSpec> = {
  echo: {
    name: 'echo-http',
    dir: join(__dirname, 'fixtures', 'echo-http'),
    entryPoint: 'echo',
    trigger: { kind: 'http' },
  },
  recorder: {
    name: 'event-recorder',
    dir: join(__dirname, 'fixtures', 'event-recorder'),
    entryPoint: 'record',
    trigger: { kind: 'topic', topic: 'order-saga' },
  },
};

const discard = lineSink();

/** What the event-recorder fixture appends per delivery. */
interface Recorded {
  receivedAt: string;
  cloudEvent: {
    type: string;
    source: string;
    data: { message: { data: string; messageId: string; attributes?: Record<string, string> } };
  };
}

async function readRecords(file: string): Promise<Recorded[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('startLocalStack', () => {
  it('serves the functions and pushes a published message to the topic consumer', async () => {
    const databaseUrl = await createDatabase(
      process.env.DATABASE_URL!,
      `local_stack_${process.pid}_${Date.now()}`,
    );
    const projectId = testProjectId('local-stack');
    const recordDir = await mkdtemp(join(tmpdir(), 'recorder-'));
    const recordFile = join(recordDir, 'events.jsonl');
    const log: string[] = [];
    // The shared servers via env; the stack only starts the functions.
    const stack = await startLocalStack({
      projectId,
      functions: [fixtures.echo, fixtures.recorder],
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: databaseUrl,
        PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST,
      },
      functionEnv: (name) => (name === 'event-recorder' ? { RECORD_FILE: recordFile } : {}),
      log: (line) => log.push(line),
      functionStdout: discard,
      functionStderr: discard,
    });
    const pubsub = emulatorClient({ projectId, emulatorHost: stack.pubsubEmulatorHost });
    try {
      expect(stack).toMatchObject({ databaseUrl, projectId });
      expect(Object.keys(stack.functions).sort()).toEqual(['echo-http', 'event-recorder']);
      expect(stack.pids.postgres).toBeUndefined();

      const response = await fetch(stack.functions['echo-http']!);
      const echoed = (await response.json()) as { env: Record<string, string> };
      expect(echoed.env).toEqual({
        DATABASE_URL: databaseUrl,
        PUBSUB_EMULATOR_HOST: stack.pubsubEmulatorHost,
        GOOGLE_CLOUD_PROJECT: projectId,
        FUNCTION_NAME: 'echo-http',
        LOG_LEVEL: 'info',
      });

      const db = createDb(databaseUrl);
      const products = await db.selectFrom('products').select('sku').execute();
      await db.destroy();
      expect(products.length).toBeGreaterThan(0);

      const published = { hello: 'order-saga' };
      const messageId = await pubsub.topic('order-saga').publishMessage({
        json: published,
        attributes: { event_type: 'OrderPlaced' },
      });
      let records = await readRecords(recordFile);
      await waiterShowing([], 100)(
        'the message to be pushed to the recorder',
        async () => {
          records = await readRecords(recordFile);
          return records.length > 0;
        },
        20_000,
      );
      expect(records).toHaveLength(1);
      const { cloudEvent } = records[0]!;
      expect(cloudEvent).toMatchObject({
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: `//pubsub.googleapis.com/projects/${projectId}/topics/order-saga`,
        data: { message: { messageId, attributes: { event_type: 'OrderPlaced' } } },
      });
      const data = Buffer.from(cloudEvent.data.message.data, 'base64').toString();
      expect(JSON.parse(data)).toEqual(published);
    } finally {
      await pubsub.close();
      await stack.stop();
      await rm(recordDir, { recursive: true, force: true });
    }
    for (const pid of Object.values(stack.pids.functions)) {
      expect(isProcessAlive(pid!)).toBe(false);
    }
    await stack.stop();
  }, 30_000);

  it('stops PostgreSQL when the emulator fails to start', async () => {
    const log: string[] = [];
    await expect(
      startLocalStack({
        projectId: testProjectId('failing-stack'),
        functions: [],
        durable: false,
        env: { PATH: process.env.PATH },
        sdkRoot: '/nonexistent-sdk',
        log: (line) => log.push(line),
      }),
    ).rejects.toThrow(/No Pub\/Sub emulator at \/nonexistent-sdk/);
    const started = /PostgreSQL starting \(pid (\d+)\) in (\S+)/.exec(log.join('\n'));
    expect(started).not.toBeNull();
    expect(isProcessAlive(Number(started![1]))).toBe(false);
    expect(existsSync(started![2]!)).toBe(false);
  }, 30_000);

  it('stops the functions already started when another fails to start', async () => {
    const log: string[] = [];
    await expect(
      startLocalStack({
        projectId: testProjectId('failing-function'),
        functions: [fixtures.echo, { ...fixtures.recorder, entryPoint: 'noSuchFunction' }],
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: process.env.DATABASE_URL,
          PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST,
        },
        log: (line) => log.push(line),
        functionStdout: discard,
        functionStderr: discard,
      }),
    ).rejects.toThrow(/function event-recorder exited/);
    const echo = /function echo-http ready \(pid (\d+)\)/.exec(log.join('\n'));
    expect(echo).not.toBeNull();
    expect(isProcessAlive(Number(echo![1]))).toBe(false);
  }, 30_000);
});
