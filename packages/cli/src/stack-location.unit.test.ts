import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@orders/runtime';
import {
  cliConfig,
  type DevStack,
  describeDatabase,
  describePubSub,
  locateStack,
  readFailure,
} from './stack-location';

const devStack: DevStack = {
  databaseUrl: 'postgres://postgres@127.0.0.1:5000/postgres',
  pubsubEmulatorHost: '127.0.0.1:8085',
  projectId: 'orders-local',
  functions: { 'place-order': 'http://127.0.0.1:9000', 'process-order': 'http://127.0.0.1:9001' },
};
const file = '/repo/.local/dev-stack.json';

describe('locateStack', () => {
  it('takes the running dev stack from its file', () => {
    expect(locateStack(cliConfig({}), devStack, file)).toEqual({
      pubsub: { projectId: 'orders-local', emulatorHost: '127.0.0.1:8085' },
      placeOrderUrl: 'http://127.0.0.1:9000',
      databaseUrl: 'postgres://postgres@127.0.0.1:5000/postgres',
      devStackFile: file,
    });
  });

  it('lets each environment setting override the file', () => {
    const config = cliConfig({
      PUBSUB_EMULATOR_HOST: 'localhost:1',
      GOOGLE_CLOUD_PROJECT: 'other',
      PLACE_ORDER_URL: 'http://localhost:2',
      DATABASE_URL: 'postgresql://ops@db.internal:5432/orders',
    });
    expect(locateStack(config, devStack, file)).toEqual({
      pubsub: { projectId: 'other', emulatorHost: 'localhost:1' },
      placeOrderUrl: 'http://localhost:2',
      databaseUrl: 'postgresql://ops@db.internal:5432/orders',
      devStackFile: file,
    });
  });

  it('without a dev stack: the emulator of the environment, else production, else nothing', () => {
    expect(locateStack(cliConfig({ PUBSUB_EMULATOR_HOST: 'localhost:1' }), undefined)).toEqual({
      pubsub: { projectId: 'orders-local', emulatorHost: 'localhost:1' },
      placeOrderUrl: undefined,
      databaseUrl: undefined,
      devStackFile: undefined,
    });
    const production = locateStack(cliConfig({ GOOGLE_CLOUD_PROJECT: 'acme-prod' }), undefined);
    expect(production.pubsub).toEqual({ projectId: 'acme-prod', emulatorHost: undefined });
    expect(describePubSub(production.pubsub!)).toBe('project acme-prod (Google Cloud)');
    expect(locateStack(cliConfig({ GOOGLE_CLOUD_PROJECT: '' }), undefined).pubsub).toBeUndefined();
  });
});

describe('describeDatabase', () => {
  it('names the database without its password', () => {
    expect(describeDatabase('postgres://ops:s3cret@db.internal:5432/orders')).toBe(
      'the database at postgres://ops:***@db.internal:5432/orders',
    );
    expect(describeDatabase('postgres://postgres@127.0.0.1:5000/postgres')).toBe(
      'the database at postgres://postgres@127.0.0.1:5000/postgres',
    );
    expect(describeDatabase('not a url')).toBe('the database at DATABASE_URL');
  });
});

describe('cliConfig', () => {
  it('names each bad setting', () => {
    const parse = () =>
      cliConfig({
        PUBSUB_EMULATOR_HOST: 'http://x',
        PLACE_ORDER_URL: 'ftp://x',
        DATABASE_URL: 'x',
      });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/PUBSUB_EMULATOR_HOST: must be host:port/);
    expect(parse).toThrow(/PLACE_ORDER_URL: /);
    expect(parse).toThrow(/DATABASE_URL: /);
  });
});

describe('readFailure', () => {
  const refused = (address: string) =>
    Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
  const where = 'the database at postgres://postgres@127.0.0.1:5000/postgres';
  const fromFile = locateStack(cliConfig({}), devStack, '/repo/.local/dev-stack.json');

  it("names the dev stack file when its database does not answer, an AggregateError's too", () => {
    const both = new AggregateError([refused('::1:5000'), refused('127.0.0.1:5000')], 'x');
    for (const error of [refused('127.0.0.1:5000'), both]) {
      expect(readFailure(error, where, fromFile, cliConfig({})).message).toBe(
        `${where} named by /repo/.local/dev-stack.json does not answer (ECONNREFUSED): if \`pnpm dev\` is not running any more, start it again (it replaces the file), or delete /repo/.local/dev-stack.json`,
      );
    }
  });

  it('says what failed otherwise: a DATABASE_URL of your own, or another error', () => {
    const own = cliConfig({ DATABASE_URL: 'postgres://me@db:5432/orders' });
    expect(
      readFailure(refused('db:5432'), where, locateStack(own, devStack, '/x'), own).message,
    ).toBe(`reading ${where}: connect ECONNREFUSED db:5432`);
    const denied = Object.assign(new Error('permission denied for table outbox'), {
      code: '42501',
    });
    expect(readFailure(denied, where, fromFile, cliConfig({})).message).toBe(
      `reading ${where}: permission denied for table outbox`,
    );
  });
});
