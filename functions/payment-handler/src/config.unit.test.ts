import { describe, expect, it } from '@jest/globals';
import { paymentHandlerConfig } from './config';

const database = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };

describe('paymentHandlerConfig', () => {
  it('gives the sandbox 20 ms of latency and no random transient errors by default', () => {
    expect(paymentHandlerConfig(database)).toMatchObject({
      SANDBOX_LATENCY_MS: 20,
      SANDBOX_TRANSIENT_ERROR_RATE: 0,
      DB_POOL_SIZE: 10,
    });
  });

  it('reads the sandbox settings', () => {
    expect(
      paymentHandlerConfig({
        ...database,
        SANDBOX_LATENCY_MS: '0',
        SANDBOX_TRANSIENT_ERROR_RATE: '0.25',
      }),
    ).toMatchObject({ SANDBOX_LATENCY_MS: 0, SANDBOX_TRANSIENT_ERROR_RATE: 0.25 });
  });

  it('names every bad setting', () => {
    expect(() =>
      paymentHandlerConfig({
        SANDBOX_LATENCY_MS: '-1',
        SANDBOX_TRANSIENT_ERROR_RATE: '1.5',
      }),
    ).toThrow(/DATABASE_URL: .*SANDBOX_LATENCY_MS: .*SANDBOX_TRANSIENT_ERROR_RATE: /);
  });
});
