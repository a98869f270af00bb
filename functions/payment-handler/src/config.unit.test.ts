import { describe, expect, it } from '@jest/globals';
import { paymentHandlerConfig } from './config';

const database = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };

describe('paymentHandlerConfig', () => {
  it('gives the sandbox 20 ms of latency and no random faults by default', () => {
    expect(paymentHandlerConfig(database)).toMatchObject({
      SANDBOX_LATENCY_MS: 20,
      SANDBOX_TRANSIENT_ERROR_RATE: 0,
      SANDBOX_LATE_LANDING_RATE: 0,
      SANDBOX_LATE_LANDING_MS: 2000,
      SANDBOX_SLOW_CALL_RATE: 0,
      SANDBOX_SLOW_CALL_MS: 5000,
      DB_POOL_SIZE: 10,
    });
  });

  it('reads the sandbox settings', () => {
    expect(
      paymentHandlerConfig({
        ...database,
        SANDBOX_LATENCY_MS: '0',
        SANDBOX_TRANSIENT_ERROR_RATE: '0.25',
        SANDBOX_LATE_LANDING_RATE: '0.1',
        SANDBOX_LATE_LANDING_MS: '500',
        SANDBOX_SLOW_CALL_RATE: '0.05',
        SANDBOX_SLOW_CALL_MS: '8000',
      }),
    ).toMatchObject({
      SANDBOX_LATENCY_MS: 0,
      SANDBOX_TRANSIENT_ERROR_RATE: 0.25,
      SANDBOX_LATE_LANDING_RATE: 0.1,
      SANDBOX_LATE_LANDING_MS: 500,
      SANDBOX_SLOW_CALL_RATE: 0.05,
      SANDBOX_SLOW_CALL_MS: 8000,
    });
  });

  it('names every bad setting', () => {
    expect(() =>
      paymentHandlerConfig({
        SANDBOX_LATENCY_MS: '-1',
        SANDBOX_TRANSIENT_ERROR_RATE: '1.5',
        SANDBOX_LATE_LANDING_RATE: '-0.1',
        SANDBOX_LATE_LANDING_MS: '-5',
        SANDBOX_SLOW_CALL_RATE: '2',
        SANDBOX_SLOW_CALL_MS: '600001',
      }),
    ).toThrow(
      /DATABASE_URL: .*SANDBOX_LATENCY_MS: .*SANDBOX_TRANSIENT_ERROR_RATE: .*SANDBOX_LATE_LANDING_RATE: .*SANDBOX_LATE_LANDING_MS: .*SANDBOX_SLOW_CALL_RATE: .*SANDBOX_SLOW_CALL_MS: /,
    );
  });
});
