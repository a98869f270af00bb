import { type PostgresServer, startPostgres } from './postgres-server';
import { type PubSubEmulator, startPubSubEmulator } from './pubsub-emulator';

/** Handles the teardown stops; setup and teardown run in the same jest process. */
export interface IntTestServers {
  postgres?: PostgresServer;
  emulator?: PubSubEmulator;
}

declare global {
  var __ordersIntTestServers: IntTestServers | undefined;
}

/**
 * One PostgreSQL server and one Pub/Sub emulator per jest run of the `int` project, shared by
 * every test file through DATABASE_URL and PUBSUB_EMULATOR_HOST (workers inherit the
 * environment). Test files isolate themselves with their own database and project id (see
 * test-harness). Servers already named in the environment are used as they are.
 */
export default async function setup(): Promise<void> {
  const [pg, ps] = await Promise.allSettled([
    startPostgres({ durable: false }),
    startPubSubEmulator(),
  ]);
  const servers: IntTestServers = {
    postgres: pg.status === 'fulfilled' ? pg.value : undefined,
    emulator: ps.status === 'fulfilled' ? ps.value : undefined,
  };
  globalThis.__ordersIntTestServers = servers;
  if (pg.status === 'rejected' || ps.status === 'rejected') {
    await Promise.allSettled([servers.postgres?.stop(), servers.emulator?.stop()]);
    throw pg.status === 'rejected' ? pg.reason : (ps as PromiseRejectedResult).reason;
  }
  const { postgres, emulator } = servers as Required<IntTestServers>;
  process.env.DATABASE_URL = postgres.url;
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  const shownUrl = new URL(postgres.url);
  if (shownUrl.password) shownUrl.password = '***';
  // On its own line so CI output shows what the int tests really ran against.
  process.stdout.write(
    `\nint tests: PostgreSQL ${postgres.version} at ${shownUrl}, ` +
      `Pub/Sub emulator at ${emulator.host}, Node ${process.version}\n`,
  );
}
