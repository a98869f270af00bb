import { describe, expect, it } from '@jest/globals';
import { baseConfigSchema, ConfigError, parseConfig } from './config';

describe('parseConfig', () => {
  it('parses and defaults the environment it is given', () => {
    const config = parseConfig(baseConfigSchema, {
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
      parseConfig(baseConfigSchema, { DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' }),
    ).toThrow(ConfigError);
    expect(() => parseConfig(baseConfigSchema, { LOG_LEVEL: 'loud' })).toThrow(
      /DATABASE_URL: .*LOG_LEVEL: /,
    );
  });
});
