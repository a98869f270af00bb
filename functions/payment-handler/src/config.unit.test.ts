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

  it('pays through the sandbox by default where K_SERVICE is not set (a local run)', () => {
    expect(paymentHandlerConfig(database).PAYMENT_PROVIDER).toBe('sandbox');
  });

  it('refuses to start on Cloud Run functions without a PAYMENT_PROVIDER', () => {
    expect(() => paymentHandlerConfig({ ...database, K_SERVICE: 'payment-handler' })).toThrow(
      /PAYMENT_PROVIDER: required on Cloud Run functions \(K_SERVICE is set\)/,
    );
    expect(() =>
      paymentHandlerConfig({ ...database, K_SERVICE: 'payment-handler', PAYMENT_PROVIDER: '' }),
    ).toThrow(/PAYMENT_PROVIDER: /);
  });

  it('refuses the sandbox on Cloud Run functions unless the project is named a test project', () => {
    const cloudRun = {
      ...database,
      K_SERVICE: 'payment-handler',
      GOOGLE_CLOUD_PROJECT: 'shop-prod',
      PAYMENT_PROVIDER: 'sandbox',
    };
    const refusal = /PAYMENT_PROVIDER: the sandbox provider pays nothing: .*SANDBOX_TEST_PROJECT/;
    expect(() => paymentHandlerConfig(cloudRun)).toThrow(refusal);
    expect(() => paymentHandlerConfig({ ...cloudRun, SANDBOX_TEST_PROJECT: 'shop-test' })).toThrow(
      refusal,
    );
    expect(() => paymentHandlerConfig({ ...cloudRun, SANDBOX_TEST_PROJECT: '' })).toThrow(refusal);
    expect(
      paymentHandlerConfig({ ...cloudRun, SANDBOX_TEST_PROJECT: 'shop-prod' }).PAYMENT_PROVIDER,
    ).toBe('sandbox');
  });

  it('reads the Stripe settings, with a 10 s timeout by default, on Cloud Run functions or not', () => {
    const stripe = { ...database, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_live_abc123' };
    expect(paymentHandlerConfig({ ...stripe, K_SERVICE: 'payment-handler' })).toMatchObject({
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: 'sk_live_abc123',
      STRIPE_TIMEOUT_MS: 10_000,
    });
    expect(
      paymentHandlerConfig({
        ...stripe,
        STRIPE_API_URL: 'http://127.0.0.1:12111',
        STRIPE_TIMEOUT_MS: '2000',
      }),
    ).toMatchObject({ STRIPE_API_URL: 'http://127.0.0.1:12111', STRIPE_TIMEOUT_MS: 2000 });
  });

  it('refuses a Stripe API URL that is not https on Cloud Run functions', () => {
    const stripe = {
      ...database,
      K_SERVICE: 'payment-handler',
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: 'sk_live_abc123',
    };
    expect(() =>
      paymentHandlerConfig({ ...stripe, STRIPE_API_URL: 'http://stripe.internal' }),
    ).toThrow(/STRIPE_API_URL: https only on Cloud Run functions/);
    expect(
      paymentHandlerConfig({ ...stripe, STRIPE_API_URL: 'https://stripe.internal' }).STRIPE_API_URL,
    ).toBe('https://stripe.internal');
  });

  it('refuses Stripe without its secret key, or with bad Stripe settings', () => {
    expect(() => paymentHandlerConfig({ ...database, PAYMENT_PROVIDER: 'stripe' })).toThrow(
      /STRIPE_SECRET_KEY: required with PAYMENT_PROVIDER=stripe/,
    );
    expect(() =>
      paymentHandlerConfig({
        ...database,
        PAYMENT_PROVIDER: 'paypal',
        STRIPE_SECRET_KEY: 'pk_live_abc',
        STRIPE_API_URL: 'ftp://stripe.test',
        STRIPE_TIMEOUT_MS: '120000',
      }),
    ).toThrow(/PAYMENT_PROVIDER: .*STRIPE_SECRET_KEY: .*STRIPE_API_URL: .*STRIPE_TIMEOUT_MS: /);
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
