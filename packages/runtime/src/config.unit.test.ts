import { describe, expect, it } from '@jest/globals';
import { ConfigError, databaseConfigSchema, parseConfig } from './config';

describe('parseConfig', () => {
  it('parses and defaults the environment it is given', () => {
    const config = parseConfig(databaseConfigSchema, {
      DATABASE_URL: 'postgres://u@localhost:5432/db',
      DB_POOL_SIZE: '4',
    });
    expect(config).toEqual({
      GOOGLE_CLOUD_PROJECT: 'orders-local',
      DATABASE_URL: 'postgres://u@localhost:5432/db',
      DB_POOL_SIZE: 4,
      LOG_LEVEL: 'info',
      LEGACY_CURRENCY: 'USD',
      // Fault injection is off unless a chaos run or a crash test turns it on.
      FAULT_CRASH_BEFORE_PUBLISH_RATE: 0,
      FAULT_SEED: '0',
    });
  });

  it('names every bad setting', () => {
    expect(() =>
      parseConfig(databaseConfigSchema, { DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' }),
    ).toThrow(ConfigError);
    const parse = () => parseConfig(databaseConfigSchema, { LOG_LEVEL: 'loud' });
    expect(parse).toThrow(/DATABASE_URL: /);
    expect(parse).toThrow(/LOG_LEVEL: /);
  });

  it('reads LEGACY_CURRENCY as an ISO 4217 code', () => {
    const env = { DATABASE_URL: 'postgres://u@localhost:5432/db' };
    expect(parseConfig(databaseConfigSchema, { ...env, LEGACY_CURRENCY: 'EUR' })).toMatchObject({
      LEGACY_CURRENCY: 'EUR',
    });
    expect(() => parseConfig(databaseConfigSchema, { ...env, LEGACY_CURRENCY: 'euro' })).toThrow(
      /LEGACY_CURRENCY: must be an ISO 4217 currency code/,
    );
  });

  it('takes a Cloud SQL instance instead of DATABASE_URL, with the user and database', () => {
    const cloudSql = {
      CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
      DB_USER: 'fn-place-order@my-project.iam',
      DB_NAME: 'orders',
    };
    expect(parseConfig(databaseConfigSchema, cloudSql)).toMatchObject(cloudSql);
    const parse = () =>
      parseConfig(databaseConfigSchema, { CLOUD_SQL_INSTANCE: 'orders', LOG_LEVEL: 'loud' });
    expect(parse).toThrow(
      /LOG_LEVEL: .*; CLOUD_SQL_INSTANCE: expected project:region:instance; DB_USER: required .*; DB_NAME: required with CLOUD_SQL_INSTANCE$/,
    );
    expect(parse).not.toThrow(/DATABASE_URL/);
  });
});
