import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@orders/runtime';
import { placeOrderConfig } from './config';

const database = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };
const identityPlatform = {
  AUTH_ISSUER: 'https://securetoken.google.com/acme-prod',
  AUTH_AUDIENCE: 'acme-prod',
  AUTH_JWKS_URL:
    'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
};
const developmentIssuer = {
  AUTH_ISSUER: 'http://127.0.0.1:41234',
  AUTH_AUDIENCE: 'orders-local',
  AUTH_JWKS_URL: 'http://127.0.0.1:41234/.well-known/jwks.json',
};
const onCloudRun = { K_SERVICE: 'place-order' };

describe('placeOrderConfig', () => {
  it('needs an issuer, an audience and the issuer keys: no default lets anyone in', () => {
    expect(() => placeOrderConfig(database)).toThrow(
      /AUTH_ISSUER: .*AUTH_AUDIENCE: .*AUTH_JWKS_URL: /,
    );
  });

  it('takes the abuse limits, with defaults a shop can live with', () => {
    expect(placeOrderConfig({ ...database, ...identityPlatform })).toMatchObject({
      MAX_ORDER_QUANTITY: 100,
      MAX_OPEN_ORDERS_PER_CUSTOMER: 10,
      OPEN_ORDERS_RETRY_AFTER_SECONDS: 60,
    });
    expect(
      placeOrderConfig({
        ...database,
        ...identityPlatform,
        MAX_ORDER_QUANTITY: '12',
        MAX_OPEN_ORDERS_PER_CUSTOMER: '3',
        OPEN_ORDERS_RETRY_AFTER_SECONDS: '300',
      }),
    ).toMatchObject({
      MAX_ORDER_QUANTITY: 12,
      MAX_OPEN_ORDERS_PER_CUSTOMER: 3,
      OPEN_ORDERS_RETRY_AFTER_SECONDS: 300,
    });
  });

  it('takes the development issuer where it runs: on this machine', () => {
    expect(placeOrderConfig({ ...database, ...developmentIssuer }).AUTH_ISSUER).toBe(
      developmentIssuer.AUTH_ISSUER,
    );
  });

  it('refuses the development issuer on Cloud Run, and any issuer not served over https', () => {
    expect(() => placeOrderConfig({ ...database, ...developmentIssuer, ...onCloudRun })).toThrow(
      ConfigError,
    );
    expect(() => placeOrderConfig({ ...database, ...developmentIssuer, ...onCloudRun })).toThrow(
      /AUTH_ISSUER: http:\/\/127\.0\.0\.1:41234 is this machine: the development issuer is refused \(on Cloud Run\).*AUTH_JWKS_URL/,
    );
    for (const host of ['localhost:8443', 'auth.localhost', '127.1.2.3', '[::1]']) {
      expect(() =>
        placeOrderConfig({
          ...database,
          ...identityPlatform,
          AUTH_JWKS_URL: `https://${host}/jwks.json`,
          ...onCloudRun,
        }),
      ).toThrow(/AUTH_JWKS_URL: .* is this machine/);
    }
    expect(() =>
      placeOrderConfig({
        ...database,
        ...identityPlatform,
        AUTH_ISSUER: 'http://issuer.example',
        ...onCloudRun,
      }),
    ).toThrow(/AUTH_ISSUER: http:\/\/issuer\.example is not https/);
    expect(placeOrderConfig({ ...database, ...identityPlatform, ...onCloudRun })).toMatchObject(
      identityPlatform,
    );
  });
});
