import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { createEvent, decodeMessage } from '@orders/events';
import { driveConcurrently, pushedCloudEvent } from './event-handling-bench';

describe('driveConcurrently', () => {
  it('calls work once per item, never more than `concurrency` at a time, and times each call', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const run = await driveConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // The work itself: it must take time for the latencies and the elapsed time to show
      // it (nothing is waited for here).
      await sleep(5);
      seen.push(item);
      inFlight--;
    });
    expect(seen.toSorted()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
    expect(run.latenciesMs).toHaveLength(7);
    expect(Math.min(...run.latenciesMs)).toBeGreaterThanOrEqual(4);
    // Three at a time: at least three rounds of 5 ms (no upper bound: the machine is shared).
    expect(run.elapsedMs).toBeGreaterThanOrEqual(14);
  });

  it('stops at the first failure and throws it', async () => {
    const started: number[] = [];
    await expect(
      driveConcurrently([1, 2, 3, 4], 1, async (item) => {
        started.push(item);
        if (item === 2) throw new Error('item 2 failed');
      }),
    ).rejects.toThrow('item 2 failed');
    expect(started).toEqual([1, 2]);
  });
});

describe('pushedCloudEvent', () => {
  it('carries the event as a raw push does: base64 data, attributes, subscription', () => {
    const orderId = '0b9c6f5e-1d2a-4c3b-8e7f-123456789abc';
    const event = createEvent(
      'OrderConfirmed',
      { orderId, totalMinor: 100, currency: 'EUR' },
      { source: 'test', correlationId: '5f0c1f7e-2b3a-4d5c-9e8f-abcdefabcdef' },
    );
    const pushed = pushedCloudEvent(event, {
      projectId: 'p',
      topic: 'analytics',
      subscription: 'analytics-loader',
    });
    expect(pushed.type).toBe('google.cloud.pubsub.topic.v1.messagePublished');
    expect(pushed.source).toBe('//pubsub.googleapis.com/projects/p/topics/analytics');
    expect(pushed.data?.subscription).toBe('projects/p/subscriptions/analytics-loader');
    expect(typeof pushed.data?.message?.data).toBe('string');
    expect(decodeMessage(pushed.data!.message!)).toEqual(event);
  });
});
