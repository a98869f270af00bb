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
});
