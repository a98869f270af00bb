import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDuckDbWarehouse } from '@orders/analytics';
import {
  bundleFunction,
  functions as declared,
  type FunctionArtifact,
  type FunctionName,
  UnknownFunctionError,
} from '@orders/deployment';
import { createEvent, type DomainEvent, encodeEvent } from '@orders/events';
import {
  createTopology,
  type DevIssuer,
  emulatorClient,
  type FunctionProcess,
  lineSink,
  pullMessages,
  startDevIssuer,
  startFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { insertOutboxRows } from '@orders/messaging/testing';
import { insertPlacedOrder } from '@orders/ordering/testing';

/**
 * Cloud Build, simulated: each function's artifact alone in an empty folder, installed by
 * `npm ci` from the registry as the Node.js buildpack does with a package-lock.json (exactly
 * the locked versions, or no install at all), served by the functions-framework it installed,
 * answering a real request with real PostgreSQL, the Pub/Sub emulator and DuckDB.
 */
const run = promisify(execFile);
const repoRoot = join(__dirname, '..', '..', '..');
const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
const names = Object.keys(declared) as FunctionName[];

/** What the Node.js buildpack runs when the source has a package-lock.json. */
const npmCi = ['ci', '--omit=dev', '--no-audit', '--no-fund'];

function install(dir: string) {
  return run('npm', npmCi, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
}

interface Deployed {
  artifact: FunctionArtifact;
  /** The empty folder the artifact was copied to and installed in. */
  dir: string;
  projectId: string;
  database: TestDatabase;
  pubsub: PubSub;
}

const workDir = mkdtempSync(join(tmpdir(), 'cloud-build-'));
const deployed = new Map<FunctionName, Deployed>();
/** analytics-loader bundled for DuckDB, as `pnpm dev` runs it (the deployed one is BigQuery's). */
const duckDbLoaderDir = join(workDir, 'analytics-loader-duckdb');
const started: FunctionProcess[] = [];
/** functions-framework's start-up banner; errors still go to stderr. */
const discard = lineSink();
/** The issuer place-order trusts here (Identity Platform's part in production). */
let issuer: DevIssuer;

beforeAll(async () => {
  issuer = await startDevIssuer({ audience: 'cloud-build' });
  // esbuild is quick; the installs share npm's cache and run side by side.
  await Promise.all(
    names.map(async (name) => {
      const artifact = await bundleFunction(repoRoot, name);
      const dir = join(workDir, name);
      cpSync(artifact.dir, dir, { recursive: true });
      await install(dir);
      const projectId = testProjectId(`bundler-${name}`);
      await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
      deployed.set(name, {
        artifact,
        dir,
        projectId,
        database: await testDatabase(`bundler-${name}`),
        pubsub: emulatorClient({ projectId, emulatorHost }),
      });
    }),
  );
  await bundleFunction(repoRoot, 'analytics-loader', {
    warehouse: 'duckdb',
    outDir: duckDbLoaderDir,
  });
  await install(duckDbLoaderDir);
}, 300_000);

afterAll(async () => {
  await Promise.all(started.map((fn) => fn.stop()));
  await issuer?.stop();
  for (const { pubsub, database } of deployed.values()) {
    await pubsub.close();
    await database.close();
  }
  rmSync(workDir, { recursive: true, force: true });
});

function deployment(name: FunctionName): Deployed {
  const found = deployed.get(name);
  if (!found) throw new Error(`${name} was not deployed`);
  return found;
}

async function start(
  name: FunctionName,
  env: NodeJS.ProcessEnv = {},
  dir = deployment(name).dir,
  stdout = discard,
): Promise<FunctionProcess> {
  const { projectId, database } = deployment(name);
  const fn = await startFunction({
    name,
    dir,
    entryPoint: declared[name].entryPoint,
    signatureType: declared[name].trigger.kind === 'http' ? 'http' : 'cloudevent',
    stdout,
    env: {
      GOOGLE_CLOUD_PROJECT: projectId,
      PUBSUB_EMULATOR_HOST: emulatorHost,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'error',
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: issuer.audience,
      AUTH_JWKS_URL: issuer.jwksUrl,
      ...env,
    },
  });
  started.push(fn);
  return fn;
}

/** The raw body a Pub/Sub push subscription posts, on the path functions-framework converts. */
function push(fn: FunctionProcess, name: FunctionName, data: Buffer, attributes = {}) {
  const { trigger } = declared[name];
  const topic = trigger.kind === 'topic' ? trigger.topic : 'none';
  const { projectId } = deployment(name);
  return fetch(`${fn.url}/projects/${projectId}/topics/${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: {
        data: data.toString('base64'),
        attributes,
        messageId: randomUUID(),
        publishTime: new Date().toISOString(),
      },
      subscription: `projects/${projectId}/subscriptions/${name}`,
    }),
  });
}

function pushEvent(fn: FunctionProcess, name: FunctionName, event: DomainEvent) {
  const { data, attributes } = encodeEvent(event);
  return push(fn, name, data, attributes);
}

describe.each(names)('the artifact of %s', (name) => {
  it('declares exactly the packages its bundle requires, at the versions npm installed', () => {
    const { artifact, dir } = deployment(name);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(Object.keys(manifest).sort()).toEqual([
      'dependencies',
      'engines',
      'main',
      'name',
      'private',
    ]);
    expect(manifest.main).toBe('index.js');
    expect(manifest.dependencies).toEqual(artifact.dependencies);

    // Read from the bundle itself, not from the metafile the manifest was written from; a
    // dynamic import() of an external stays import() in a CommonJS bundle.
    const bundle = readFileSync(join(dir, 'index.js'), 'utf8');
    const required = new Set(
      [...bundle.matchAll(/\b(?:require|import)\("([^"]+)"\)/g)]
        .map(([, specifier]) => specifier!)
        .filter((specifier) => !isBuiltin(specifier))
        .map((specifier) =>
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        ),
    );
    expect([...required].sort()).toEqual(Object.keys(manifest.dependencies));
    expect(required).toContain('@google-cloud/functions-framework');
    for (const [dependency, version] of Object.entries(manifest.dependencies)) {
      const installed = JSON.parse(
        readFileSync(join(dir, 'node_modules', dependency, 'package.json'), 'utf8'),
      );
      expect(`${dependency}@${installed.version}`).toBe(`${dependency}@${version}`);
    }
  });

  it('installs exactly the tree its package-lock.json locks, the one pnpm installed here', () => {
    const { dir } = deployment(name);
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
    const locked = Object.entries(
      lock.packages as Record<string, { version: string; optional?: boolean }>,
    ).filter(([location]) => location !== '');
    expect(locked.length).toBeGreaterThan(Object.keys(lock.packages[''].dependencies).length);
    for (const [location, { version, optional }] of locked) {
      const manifest = join(dir, location, 'package.json');
      // An optional package for another platform (a native binary) is locked, not installed.
      if (optional && !existsSync(manifest)) continue;
      const installed = JSON.parse(readFileSync(manifest, 'utf8'));
      expect(`${location}@${installed.version}`).toBe(`${location}@${version}`);
    }
  });
});

describe('npm ci, as Cloud Build runs it', () => {
  it('refuses an artifact whose package-lock.json does not match its package.json', async () => {
    const dir = join(workDir, 'stale-lockfile');
    cpSync(deployment('housekeeping').artifact.dir, dir, { recursive: true });
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    // A published pg other than the locked one: package.json moved on, the lockfile did not.
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest.dependencies.pg).not.toBe('8.16.3');
    manifest.dependencies.pg = '8.16.3';
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));

    await expect(install(dir)).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'can only install packages when your package.json and package-lock.json',
      ),
    });
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('ships analytics-loader as deployed (BigQuery) without DuckDB', async () => {
    const { dir } = deployment('analytics-loader');
    const lock = readFileSync(join(dir, 'package-lock.json'), 'utf8');
    expect(lock).not.toContain('@duckdb');
    expect(existsSync(join(dir, 'node_modules', '@duckdb'))).toBe(false);
    expect(
      JSON.parse(readFileSync(join(duckDbLoaderDir, 'package.json'), 'utf8')).dependencies,
    ).toHaveProperty('@duckdb/node-api');
    // Started for DuckDB anyway, it says why it cannot load into it.
    const duckDbPath = join(workDir, 'bigquery-only', 'warehouse.duckdb');
    const logged: string[] = [];
    const fn = await start(
      'analytics-loader',
      { WAREHOUSE: 'duckdb', DUCKDB_PATH: duckDbPath },
      deployment('analytics-loader').dir,
      lineSink((line) => logged.push(line)),
    );
    const confirmed = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 4500, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    expect((await pushEvent(fn, 'analytics-loader', confirmed)).status).toBe(500);
    await fn.stop();
    expect(logged.join('\n')).toContain(
      '@duckdb/node-api is not in this artifact of analytics-loader: it was bundled for WAREHOUSE=bigquery',
    );
  });
});

describe('a Cloud Build of each function serves a real request', () => {
  it('place-order lists the catalog, and takes an order from a customer whose token it verifies', async () => {
    const fn = await start('place-order');
    const response = await fetch(`${fn.url}/products`);
    expect(response.status).toBe(200);
    const products = (await response.json()) as { sku: string }[];
    expect(products.map((product) => product.sku)).toContain('POT-001');

    const order = (authorization?: string) =>
      fetch(`${fn.url}/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ currency: 'EUR', items: [{ sku: 'POT-001', quantity: 1 }] }),
      });
    expect((await order()).status).toBe(401);
    expect((await order(`Bearer ${await issuer.token('cust-artifact')}`)).status).toBe(202);
  });

  it('process-order reserves stock for an OrderPlaced and requests its payment', async () => {
    const { database, pubsub } = deployment('process-order');
    const orderId = randomUUID();
    const items = [{ sku: 'POT-001', quantity: 1, unitPriceMinor: 4500 }];
    const placed = createEvent(
      'OrderPlaced',
      { orderId, customerId: 'cust-1', currency: 'EUR', items, totalMinor: 4500 },
      { source: 'place-order', correlationId: randomUUID() },
    );
    await insertPlacedOrder(database.db, placed);
    const fn = await start('process-order');

    expect((await pushEvent(fn, 'process-order', placed)).status).toBe(204);
    const reservation = await database.db
      .selectFrom('stock_reservations')
      .select(['sku', 'state'])
      .where('order_id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(reservation).toEqual({ sku: 'POT-001', state: 'reserved' });
    const [request] = await pullMessages(pubsub, 'payment-handler', { count: 1 });
    expect(request?.attributes).toMatchObject({
      event_type: 'PaymentRequested',
      correlation_id: placed.correlationId,
    });
  });

  it('payment-handler charges a PaymentRequested and publishes PaymentSucceeded', async () => {
    const { database, pubsub } = deployment('payment-handler');
    const orderId = randomUUID();
    const paymentId = `pay_${orderId}`;
    const requested = createEvent(
      'PaymentRequested',
      { orderId, paymentId, customerId: 'cust-1', amountMinor: 4500, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID(), causationId: randomUUID() },
    );
    // The sandbox provider, which the payment handler takes on Cloud Run only in a test project.
    const fn = await start('payment-handler', {
      PAYMENT_PROVIDER: 'sandbox',
      SANDBOX_TEST_PROJECT: deployment('payment-handler').projectId,
    });

    expect((await pushEvent(fn, 'payment-handler', requested)).status).toBe(204);
    const payment = await database.db
      .selectFrom('payments')
      .select('status')
      .where('payment_id', '=', paymentId)
      .executeTakeFirstOrThrow();
    expect(payment.status).toBe('charged');
    const [succeeded] = await pullMessages(pubsub, 'process-order', { count: 1 });
    expect(succeeded?.attributes).toMatchObject({
      event_type: 'PaymentSucceeded',
      correlation_id: requested.correlationId,
    });
  });

  it('analytics-loader loads an event into DuckDB', async () => {
    const duckDbPath = join(workDir, 'analytics', 'warehouse.duckdb');
    const confirmed = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 4500, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    const fn = await start(
      'analytics-loader',
      { WAREHOUSE: 'duckdb', DUCKDB_PATH: duckDbPath },
      duckDbLoaderDir,
    );

    expect((await pushEvent(fn, 'analytics-loader', confirmed)).status).toBe(204);
    // The function holds the file while it runs; read it as `pnpm analytics` does, after.
    await fn.stop();
    const warehouse = createDuckDbWarehouse({ path: duckDbPath });
    try {
      const audit = await warehouse.auditEvents({ orderIds: [confirmed.subject] });
      expect(audit.map((row) => [row.eventId, row.eventType])).toEqual([
        [confirmed.id, 'OrderConfirmed'],
      ]);
    } finally {
      await warehouse.close();
    }
  });

  it('housekeeping publishes an outbox row a crash left unsent on a scheduler tick', async () => {
    const { database, pubsub } = deployment('housekeeping');
    const confirmed = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    await insertOutboxRows(database.db, [confirmed]);
    const fn = await start('housekeeping', { OUTBOX_RELAY_MIN_AGE_MS: '0' });

    const tick = await push(fn, 'housekeeping', Buffer.from('{"job":"housekeeping"}'));
    expect(tick.status).toBe(204);
    const [published] = await pullMessages(pubsub, 'analytics-loader', { count: 1 });
    expect(published?.attributes.event_id).toBe(confirmed.id);
    const row = await database.db
      .selectFrom('outbox')
      .select('sent_at')
      .where('id', '=', confirmed.id)
      .executeTakeFirstOrThrow();
    expect(row.sent_at).not.toBeNull();
  });
});

describe('bundleFunction', () => {
  it('refuses a function that topology.ts does not declare', async () => {
    await expect(bundleFunction(repoRoot, 'no-such-function')).rejects.toThrow(
      UnknownFunctionError,
    );
  });
});
