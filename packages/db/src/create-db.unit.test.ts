import { Duplex } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { type CloudSqlConnector, createDb } from './create-db';

/** A socket that records what pg writes, then fails as a cut network would. */
class RecordingSocket extends Duplex {
  readonly written: Buffer[] = [];
  setNoDelay() {}
  setKeepAlive() {}
  connect() {
    setImmediate(() => this.emit('connect'));
    return this;
  }
  override _read() {}
  override _write(chunk: Buffer, _encoding: string, callback: () => void) {
    this.written.push(chunk);
    callback();
    this.destroy(new Error('network cut by the test'));
  }
}

function fakeConnector() {
  const requests: unknown[] = [];
  const sockets: RecordingSocket[] = [];
  let closed = 0;
  const connector: CloudSqlConnector = {
    async getOptions(options) {
      requests.push(options);
      return {
        stream: () => {
          const socket = new RecordingSocket();
          sockets.push(socket);
          return socket;
        },
      };
    },
    close: () => {
      closed += 1;
    },
  };
  return { connector, requests, sockets, closed: () => closed };
}

const location = {
  instanceConnectionName: 'my-project:europe-west1:orders',
  user: 'fn-place-order@my-project.iam',
  database: 'orders',
};

describe('createDb', () => {
  it('connects to a Cloud SQL instance through the connector, over private IP as an IAM user', async () => {
    const fake = fakeConnector();
    const db = createDb(location, { connector: fake.connector, connectionTimeoutMs: 2_000 });

    await expect(db.selectFrom('products').selectAll().execute()).rejects.toThrow(
      'network cut by the test',
    );

    expect(fake.requests).toEqual([
      {
        instanceConnectionName: location.instanceConnectionName,
        ipType: 'PRIVATE',
        authType: 'IAM',
      },
    ]);
    expect(fake.sockets).toHaveLength(1);
    // pg's startup message names the user and database, and carries no password.
    const startup = Buffer.concat(fake.sockets[0]!.written).toString('latin1');
    expect(startup).toContain(`user\0${location.user}\0`);
    expect(startup).toContain(`database\0${location.database}\0`);
    expect(startup).not.toContain('password');

    await db.destroy();
    expect(fake.closed()).toBe(1);
  });

  it('asks the connector again after a failure to reach it', async () => {
    const fake = fakeConnector();
    let failures = 1;
    const connector: CloudSqlConnector = {
      getOptions: async (options) => {
        if (failures-- > 0) throw new Error('SQL Admin API unavailable');
        return fake.connector.getOptions(options);
      },
      close: fake.connector.close,
    };
    const db = createDb(location, { connector });

    await expect(db.selectFrom('products').selectAll().execute()).rejects.toThrow(
      'SQL Admin API unavailable',
    );
    await expect(db.selectFrom('products').selectAll().execute()).rejects.toThrow(
      'network cut by the test',
    );
    expect(fake.requests).toHaveLength(1);
    await db.destroy();
  });

  it('connects to a postgres:// URL directly, without the connector', async () => {
    const fake = fakeConnector();
    // Port 1 on loopback refuses at once: no server is needed to see which way it went.
    const db = createDb('postgres://u@127.0.0.1:1/orders', {
      connector: fake.connector,
      connectionTimeoutMs: 2_000,
    });

    await expect(db.selectFrom('products').selectAll().execute()).rejects.toThrow(/ECONNREFUSED/);
    expect(fake.requests).toEqual([]);
    await db.destroy();
    expect(fake.closed()).toBe(0);
  });
});
