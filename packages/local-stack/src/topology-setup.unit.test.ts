import { describe, expect, it } from '@jest/globals';
import { topics } from '@orders/events';
import { localDeliveryAttempts } from './topology-setup';

describe('localDeliveryAttempts', () => {
  it('gives the emulator, which retries about once a second, as long as the backoff would', () => {
    // 1 + 2 + 4 + 8 s of backoff between five attempts.
    expect(
      localDeliveryAttempts({
        ackDeadlineSeconds: 10,
        minimumBackoffSeconds: 1,
        maximumBackoffSeconds: 60,
        maxDeliveryAttempts: 5,
      }),
    ).toBe(15);
    // Never fewer attempts than declared, never more than Pub/Sub accepts.
    expect(
      localDeliveryAttempts({
        ackDeadlineSeconds: 10,
        minimumBackoffSeconds: 0,
        maximumBackoffSeconds: 1,
        maxDeliveryAttempts: 5,
      }),
    ).toBe(5);
    expect(localDeliveryAttempts(topics['order-saga'].delivery)).toBe(100);
  });
});
