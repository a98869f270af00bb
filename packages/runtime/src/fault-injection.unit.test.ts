import { describe, expect, it } from '@jest/globals';
import { createEvent, type Envelope } from '@orders/events';
import type { Outbox } from '@orders/messaging';
import { createLogger } from '@orders/platform';
import { crashBeforePublish } from './fault-injection';

/** An outbox that records what reached it, in order with the crashes. */
function recordingOutbox(calls: string[]): Outbox {
  return {
    publishCommitted: async (events) => {
      calls.push(`publish ${events.map((event) => event.id).join(',')}`);
      return true;
    },
    relay: async () => ({ sent: 0, copies: 0, deferred: 0, failingRoutes: [], setAside: [] }),
  };
}

function confirmed(correlationId: string): Envelope {
  return createEvent(
    'OrderConfirmed',
    { orderId: '3f0c1d2e-4b5a-4c6d-8e7f-0a1b2c3d4e5f', totalMinor: 100, currency: 'EUR' },
    { source: 'test', correlationId },
  );
}

function logLines() {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ write: (line) => lines.push(JSON.parse(line)) }) };
}

const correlationIds = Array.from({ length: 4_000 }, (_, index) => `correlation-${index}`);

/** The correlation ids (of `correlationIds`) after whose commit the process would die. */
async function crashedAt(rate: number, seed: string): Promise<Set<string>> {
  const crashed = new Set<string>();
  let current = '';
  const outbox = crashBeforePublish(recordingOutbox([]), {
    rate,
    seed,
    logger: createLogger({ write: () => {} }),
    crash: () => crashed.add(current),
  });
  for (const correlationId of correlationIds) {
    current = correlationId;
    await outbox.publishCommitted([confirmed(correlationId)]);
  }
  return crashed;
}

describe('crashBeforePublish', () => {
  it('returns the outbox untouched at rate 0', () => {
    const outbox = recordingOutbox([]);
    const crashes: number[] = [];
    const decorated = crashBeforePublish(outbox, {
      rate: 0,
      seed: 'any',
      logger: createLogger({ write: () => {} }),
      crash: () => crashes.push(1),
    });
    expect(decorated).toBe(outbox);
    expect(crashes).toEqual([]);
  });

  it('at rate 1, crashes after every commit before anything is published, and says so in the log', async () => {
    const calls: string[] = [];
    const { lines, logger } = logLines();
    const outbox = crashBeforePublish(recordingOutbox(calls), {
      rate: 1,
      seed: 's',
      logger,
      // The real crash never returns; this one does, so the order of the calls shows.
      crash: () => calls.push('crash'),
    });
    const events = ['c-1', 'c-2', 'c-3'].map(confirmed);
    for (const event of events) await outbox.publishCommitted([event]);

    expect(calls).toEqual(events.flatMap((event) => ['crash', `publish ${event.id}`]));
    expect(lines).toEqual(
      events.map((event) =>
        expect.objectContaining({
          severity: 'WARNING',
          message: 'fault injected: crash between commit and publish',
          fault: 'crash-before-publish',
          correlationId: event.correlationId,
          eventIds: [event.id],
        }),
      ),
    );
  });

  it('at rate 1, has nothing to crash for when a commit emitted no event', async () => {
    const calls: string[] = [];
    const outbox = crashBeforePublish(recordingOutbox(calls), {
      rate: 1,
      seed: 's',
      logger: createLogger({ write: () => {} }),
      crash: () => calls.push('crash'),
    });
    await outbox.publishCommitted([]);
    expect(calls).toEqual(['publish ']);
  });

  it('picks the same events for the same seed, about `rate` of many correlation ids', async () => {
    const first = await crashedAt(0.3, 'seed-a');
    const again = await crashedAt(0.3, 'seed-a');
    expect([...again]).toEqual([...first]);
    // 4000 draws at 0.3: the standard deviation is 29 (0.7 %), so 0.27..0.33 is over 4 of them.
    expect(first.size / correlationIds.length).toBeGreaterThan(0.27);
    expect(first.size / correlationIds.length).toBeLessThan(0.33);
  });

  it('picks other events for another seed', async () => {
    const a = await crashedAt(0.3, 'seed-a');
    const b = await crashedAt(0.3, 'seed-b');
    const both = [...a].filter((id) => b.has(id)).length;
    // Independent picks share about 0.3 of each other (0.3 x 0.3 of all), not all.
    expect(b.size / correlationIds.length).toBeGreaterThan(0.27);
    expect(both / a.size).toBeGreaterThan(0.2);
    expect(both / a.size).toBeLessThan(0.4);
  });
});
