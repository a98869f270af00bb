import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  bundleEntry,
  bundleFunction,
  functions as declared,
  type FunctionName,
} from '@orders/deployment';
import { type Envelope, encodeEvent } from '@orders/events';
import {
  createTopology,
  freePort,
  pushRequestBody,
  queryOnce,
  startDevIssuer,
  startGoogleApiDouble,
  startPostgres,
  startPubSubEmulator,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { percentile } from '@orders/platform';
import pg from 'pg';
import { insertOrder, orderPlacedMessage } from './fixtures/seed-intake/seed-intake';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuTimes } from './process-cpu';

const repoRoot = join(__dirname, '..', '..', '..');
const fixtures = join(__dirname, '..', 'src', 'fixtures');
const frameworkPackage = '@google-cloud/functions-framework';

/** A request that the function must answer 2xx, its first. */
interface Probe {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  authorization?: string;
}

interface Start {
  ms: number;
  rssMiB: number;
  /** CPU time (user + system) of the process up to its first answer: what noise moves least. */
  cpuMs: number;
}

/** Where a function (or a baseline) is served from, and how. */
interface Served {
  dir: string;
  entryPoint: string;
  signatureType: 'http' | 'cloudevent';
}

/** One function as measured: `cold-start-<name>` and `rss-<name>` (and `-vs-seed`). */
interface Subject {
  name: string;
  function: FunctionName;
  served: Served;
  /** The settings the subject runs with, beyond every function's. */
  env: NodeJS.ProcessEnv;
  /** What the warm process must have done besides answering 2xx (and may still do). */
  afterwards?: () => Promise<void>;
  /** Measured against the seed-style function too (the DuckDB build is local only: not). */
  againstSeed: boolean;
}

/**
 * Measure 4, cold start: each function's deploy artifact (bundled now, as `pnpm bundle`
 * does), spawned with functions-framework the way Cloud Run functions does, timed from spawn
 * to its first 2xx answer to a real request, and its resident memory right after; beside, in
 * turns and spawned the same way, a hello-world function of the same signature type and the
 * seed-style function of that type (fixtures/seed-intake, fixtures/seed-handler), bundled
 * the same way, answering a request of the same kind. analytics-loader is measured as
 * deployed, loading into BigQuery (a double of BigQuery's REST API and of the metadata server
 * its credentials come from, on a local port), and apart, as `analytics-loader-duckdb`, with
 * the local DuckDB warehouse.
 */
export async function benchColdStart(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const repeats = quick ? 1 : 3;
  const workDir = mkdtempSync(join(tmpdir(), 'orders-bench-cold-'));
  const stops: (() => Promise<unknown>)[] = [async () => rmSync(workDir, { recursive: true })];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    stops.push(() => postgres.stop());
    const emulator = await startPubSubEmulator({ env, log });
    stops.push(() => emulator.stop());
    const database = await testDatabase('bench_cold_start', { DATABASE_URL: postgres.url });
    stops.push(() => database.drop());
    await database.db.destroy();
    const projectId = testProjectId('bench-cold-start');
    await createTopology({ emulatorHost: emulator.host, projectId, pushEndpoints: {} });
    const issuer = await startDevIssuer({ audience: projectId });
    stops.push(() => issuer.stop());
    const googleApis = await startGoogleApiDouble({ projectId });
    stops.push(() => googleApis.stop());

    const names = Object.keys(declared) as FunctionName[];
    const served = new Map<FunctionName, Served>();
    const serve = async (name: FunctionName, warehouse: 'bigquery' | 'duckdb' = 'bigquery') => {
      const copy = warehouse === 'duckdb' ? `${name}-duckdb` : name;
      const artifact = await bundleFunction(repoRoot, name, {
        warehouse,
        outDir: join(workDir, `${copy}-artifact`),
      });
      log(`cold start: ${copy} artifact, index.js ${(artifact.bundleBytes / 1024).toFixed(0)} KiB`);
      return {
        dir: deployCopy(
          artifact.dir,
          join(workDir, copy),
          join(repoRoot, 'functions', name),
          artifact.dependencies,
        ),
        entryPoint: declared[name].entryPoint,
        signatureType: declared[name].trigger.kind === 'http' ? 'http' : 'cloudevent',
      } satisfies Served;
    };
    for (const name of names) served.set(name, await serve(name));
    // The baselines use the very functions-framework the artifacts install.
    const frameworkVersion = JSON.parse(
      readFileSync(
        join(served.get('place-order')!.dir, 'node_modules', frameworkPackage, 'package.json'),
        'utf8',
      ),
    ).version as string;
    const hello = {
      http: helloCopy('hello-http', workDir, frameworkVersion),
      cloudevent: helloCopy('hello-cloudevent', workDir, frameworkVersion),
    };
    const seed = {
      http: await seedCopy('seed-intake', 'seedIntake', 'http', workDir),
      cloudevent: await seedCopy('seed-handler', 'seedHandler', 'cloudevent', workDir),
    };
    for (const { dir } of Object.values(seed)) {
      const version = installedVersion(join(dir, 'node_modules', frameworkPackage));
      if (version !== frameworkVersion) {
        throw new Error(
          `cold start: the seed-style functions would run on functions-framework ${version}, ours on ${frameworkVersion}`,
        );
      }
    }

    const functionEnv = (run: string): NodeJS.ProcessEnv => ({
      PATH: env.PATH,
      NODE_ENV: 'production',
      GOOGLE_CLOUD_PROJECT: projectId,
      PUBSUB_EMULATOR_HOST: emulator.host,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      SANDBOX_LATENCY_MS: '0',
      // Application Default Credentials from the double's metadata server, as on Cloud Run.
      GCE_METADATA_HOST: googleApis.metadataHost,
      WAREHOUSE: 'bigquery',
      BIGQUERY_API_ENDPOINT: googleApis.bigQueryEndpoint,
      DUCKDB_PATH: join(workDir, `warehouse-${run}.duckdb`),
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: issuer.audience,
      AUTH_JWKS_URL: issuer.jwksUrl,
      // No metadata server answers off Google Cloud: the official Pub/Sub client would look
      // for one on its first call (on Cloud Run it answers at once).
      METADATA_SERVER_DETECTION: 'none',
    });
    const pushBody = (data: Buffer, attributes: Record<string, string>) =>
      pushRequestBody({ data, attributes }, `projects/${projectId}/subscriptions/bench`);
    const pushEvent = (topic: string, event: Envelope): Probe => {
      const { data, attributes } = encodeEvent(event);
      return {
        method: 'POST',
        path: `/projects/${projectId}/topics/${topic}`,
        body: pushBody(data, attributes),
      };
    };
    /** The i-th event of `type` that the functions before wrote to the outbox, oldest first. */
    const outboxEvent = async (type: string, index: number): Promise<Envelope> => {
      const { rows } = await queryOnce<{ event: Envelope }>(
        database.url,
        `select event from outbox where event->>'type' = $1 order by created_at, id`,
        [type],
      );
      const row = rows[index];
      if (!row) throw new Error(`cold start: no ${type} #${index + 1} in the outbox`);
      return row.event;
    };

    /** A real order for a new customer, with its token (the seed-style intake ignores it). */
    const orderProbe = async (): Promise<Probe> => {
      const customerId = `bench-cold-${randomUUID()}`;
      return {
        method: 'POST',
        path: '/orders',
        authorization: `Bearer ${await issuer.token(customerId)}`,
        body: JSON.stringify({
          customerId,
          currency: 'EUR',
          items: [{ sku: 'TEA-001', quantity: 1 }],
        }),
      };
    };
    // In this order, each function's real input is what the one before wrote: place-order
    // places an order, process-order reserves it and requests its payment.
    let loadedEventId: string | undefined;
    const probes: Record<FunctionName, (index: number) => Promise<Probe>> = {
      'place-order': orderProbe,
      'process-order': async (i) => pushEvent('order-saga', await outboxEvent('OrderPlaced', i)),
      'payment-handler': async (i) =>
        pushEvent('payments', await outboxEvent('PaymentRequested', i)),
      'analytics-loader': async (i) => {
        const event = await outboxEvent('OrderPlaced', i);
        loadedEventId = event.id;
        return pushEvent('analytics', event);
      },
      housekeeping: async () => ({
        method: 'POST',
        path: `/projects/${projectId}/topics/housekeeping`,
        body: pushBody(Buffer.from('{"job":"housekeeping"}'), {}),
      }),
    };
    // The seed-style handler's input: an order of its own for each of its starts, placed as
    // the seed-style intake places them, and its OrderPlaced as that intake publishes it.
    const cloudEventFunctions = names.filter(
      (name) => served.get(name)!.signatureType === 'cloudevent',
    );
    const seedOrders = await placeSeedOrders(database.url, repeats * cloudEventFunctions.length);
    const seedProbe = (signatureType: Served['signatureType']): (() => Promise<Probe>) =>
      signatureType === 'http'
        ? orderProbe
        : async () => {
            const order = seedOrders.pop();
            if (!order) throw new Error('cold start: no order left for the seed-style handler');
            const { data, attributes } = orderPlacedMessage(order);
            return {
              method: 'POST',
              path: `/projects/${projectId}/topics/order-saga`,
              body: pushBody(data, attributes),
            };
          };

    const subjects: Subject[] = [];
    for (const name of names) {
      subjects.push({
        name,
        function: name,
        served: served.get(name)!,
        env: {},
        againstSeed: true,
      });
      if (name === 'analytics-loader') {
        // A 2xx is also what a dead-lettered event gets: the row must be in BigQuery's double.
        subjects.at(-1)!.afterwards = async () => {
          if (!googleApis.inserted.some((row) => row.insertId === loadedEventId)) {
            throw new Error(
              `cold start: analytics-loader answered 2xx but inserted no row for ${loadedEventId} into BigQuery`,
            );
          }
        };
        subjects.push({
          name: `${name}-duckdb`,
          function: name,
          served: await serve(name, 'duckdb'),
          env: { WAREHOUSE: 'duckdb' },
          againstSeed: false,
        });
      }
    }

    const measures: Measure[] = [];
    for (const subject of subjects) {
      const { name, served: fn } = subject;
      const helloProbe: Probe =
        fn.signatureType === 'http'
          ? { method: 'GET', path: '/' }
          : {
              method: 'POST',
              path: `/projects/${projectId}/topics/hello`,
              body: pushBody(Buffer.from('{}'), {}),
            };
      const starts: Record<'ours' | 'hello' | 'seed', Start[]> = { ours: [], hello: [], seed: [] };
      for (let i = 0; i < repeats; i++) {
        // In turns, so that a noisy moment of the machine hits every side alike.
        starts.hello.push(
          await coldStart(hello[fn.signatureType], functionEnv(`hello-${i}`), helloProbe),
        );
        if (subject.againstSeed) {
          starts.seed.push(
            await coldStart(
              seed[fn.signatureType],
              functionEnv(`seed-${name}-${i}`),
              await seedProbe(fn.signatureType)(),
            ),
          );
        }
        starts.ours.push(
          await coldStart(
            fn,
            { ...functionEnv(`${name}-${i}`), ...subject.env },
            await probes[subject.function](i),
          ),
        );
        await subject.afterwards?.();
      }
      const median = (side: keyof typeof starts, of: keyof Start) =>
        percentile(
          starts[side].map((start) => start[of]),
          0.5,
        ) ?? Number.NaN;
      log(
        `cold start: ${name} ${median('ours', 'ms').toFixed(0)} ms, ${median('ours', 'rssMiB').toFixed(1)} MiB ` +
          `(hello-world ${median('hello', 'ms').toFixed(0)} ms, ${median('hello', 'rssMiB').toFixed(1)} MiB` +
          (subject.againstSeed
            ? `; seed-style ${median('seed', 'ms').toFixed(0)} ms, ${median('seed', 'rssMiB').toFixed(1)} MiB)`
            : ')'),
      );
      const runs = `median of ${repeats}`;
      const seedName = fn.signatureType === 'http' ? 'seed-style intake' : 'seed-style handler';
      const seedWork =
        fn.signatureType === 'http'
          ? 'a POST /orders'
          : 'an OrderPlaced push (check, reserve, publish with the official client, mark)';
      measures.push(
        measure(
          `cold-start-${name}`,
          'ms',
          median('ours', 'ms'),
          median('hello', 'ms'),
          `spawn to first 2xx of ${probeName(subject.function)}${warehouseOf(subject)}, ${runs}; baseline: hello-world ${fn.signatureType} function; ` +
            `CPU to the first answer ${median('ours', 'cpuMs').toFixed(0)} ms against ${median('hello', 'cpuMs').toFixed(0)} ms`,
        ),
        measure(
          `rss-${name}`,
          'MiB',
          median('ours', 'rssMiB'),
          median('hello', 'rssMiB'),
          `VmRSS after the first request, ${runs}; baseline: hello-world ${fn.signatureType} function`,
        ),
      );
      if (subject.againstSeed) {
        measures.push(
          measure(
            `cold-start-${name}-vs-seed`,
            'ms',
            median('ours', 'ms'),
            median('seed', 'ms'),
            `${runs}; baseline: the ${seedName}'s artifact, spawn to first 2xx of ${seedWork}`,
          ),
          measure(
            `rss-${name}-vs-seed`,
            'MiB',
            median('ours', 'rssMiB'),
            median('seed', 'rssMiB'),
            `VmRSS after the first request, ${runs}; baseline: the ${seedName}'s after ${seedWork}`,
          ),
        );
      }
    }
    return measures;
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => log(`cold start: cleanup failed: ${String(error)}`));
    }
  }
}

function warehouseOf(subject: Subject): string {
  if (subject.function !== 'analytics-loader') return '';
  return subject.env.WAREHOUSE === 'duckdb'
    ? ' into DuckDB (local only)'
    : ' into BigQuery (as deployed; a double of its REST API and the metadata server)';
}

function probeName(name: FunctionName): string {
  switch (name) {
    case 'place-order':
      return 'a POST /orders';
    case 'process-order':
      return 'an OrderPlaced push';
    case 'payment-handler':
      return 'a PaymentRequested push';
    case 'analytics-loader':
      return 'an OrderPlaced push';
    case 'housekeeping':
      return 'a scheduler tick push';
  }
}

/**
 * The artifact as Cloud Build leaves it, without an install from the registry: a copy of its
 * files, and node_modules/<dependency> linked to the very package version its package.json
 * names, as installed in this workspace. Node resolves a linked package's own dependencies
 * from its real path, as pnpm laid them out, so nothing else is needed.
 */
function deployCopy(
  artifactDir: string,
  dir: string,
  /** The workspace package whose installed dependencies are linked first. */
  sourceDir: string,
  dependencies: Record<string, string>,
): string {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(artifactDir))
    copyFileSync(join(artifactDir, file), join(dir, file));
  linkDependencies(dir, dependencies, sourceDir);
  return dir;
}

/** A seed-style function's artifact, bundled as ours are, and its deploy copy. */
async function seedCopy(
  fixture: 'seed-intake' | 'seed-handler',
  entryPoint: string,
  signatureType: Served['signatureType'],
  workDir: string,
): Promise<Served> {
  const benchDir = join(repoRoot, 'packages', 'bench');
  const artifact = await bundleEntry(repoRoot, {
    name: fixture,
    entry: join(benchDir, 'src', 'fixtures', fixture, 'index.ts'),
    outDir: join(workDir, `${fixture}-artifact`),
  });
  return {
    dir: deployCopy(artifact.dir, join(workDir, fixture), benchDir, artifact.dependencies),
    entryPoint,
    signatureType,
  };
}

/** `count` orders placed as the seed-style intake places them, each for its own customer. */
async function placeSeedOrders(databaseUrl: string, count: number) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const orders = [];
    for (let i = 0; i < count; i++) {
      orders.push(
        await insertOrder(pool, {
          customerId: `bench-cold-seed-${i}`,
          currency: 'EUR',
          items: [{ sku: 'TEA-001', quantity: 1 }],
        }),
      );
    }
    return orders;
  } finally {
    await pool.end();
  }
}

function helloCopy(fixture: string, workDir: string, frameworkVersion: string): Served {
  const dir = join(workDir, fixture);
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(join(fixtures, fixture))) {
    copyFileSync(join(fixtures, fixture, file), join(dir, file));
  }
  linkDependencies(
    dir,
    { [frameworkPackage]: frameworkVersion },
    join(repoRoot, 'functions', 'place-order'),
  );
  return {
    dir,
    entryPoint: 'hello',
    signatureType: fixture === 'hello-http' ? 'http' : 'cloudevent',
  };
}

class MissingDependencyError extends Error {
  override readonly name = 'MissingDependencyError';
}

/** Links each dependency at its exact version, found in the workspace (first: `preferDir`). */
function linkDependencies(
  dir: string,
  dependencies: Record<string, string>,
  preferDir: string,
): void {
  const workspaceDirs = [
    preferDir,
    ...['functions', 'packages'].flatMap((parent) =>
      readdirSync(join(repoRoot, parent)).map((child) => join(repoRoot, parent, child)),
    ),
    repoRoot,
  ];
  for (const [dependency, version] of Object.entries(dependencies)) {
    const found = workspaceDirs
      .map((workspace) => join(workspace, 'node_modules', dependency))
      .find((candidate) => installedVersion(candidate) === version);
    if (!found) {
      throw new MissingDependencyError(
        `cold start: ${dependency}@${version} is not installed in any workspace package; run pnpm install`,
      );
    }
    const link = join(dir, 'node_modules', dependency);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(found), link, 'dir');
  }
}

function installedVersion(packageDir: string): string | undefined {
  const manifest = join(packageDir, 'package.json');
  if (!existsSync(manifest)) return undefined;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
}

/**
 * Spawns functions-framework on `served` (its own copy, as the runtime does), sends `probe`
 * until the port accepts it, and times spawn to the first 2xx; then reads VmRSS.
 */
async function coldStart(served: Served, env: NodeJS.ProcessEnv, probe: Probe): Promise<Start> {
  const frameworkIndex = require.resolve(frameworkPackage, { paths: [served.dir] });
  const main = join(dirname(frameworkIndex), 'main.js');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      main,
      `--target=${served.entryPoint}`,
      `--signature-type=${served.signatureType}`,
      `--source=${served.dir}`,
      `--port=${port}`,
    ],
    { cwd: served.dir, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`cold start: ${served.dir} exited before answering:\n${stderr}`);
      }
      const answer = await send(url, probe).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') return undefined;
        throw error;
      });
      if (answer) {
        const ms = performance.now() - started;
        if (answer.status < 200 || answer.status > 299) {
          throw new Error(
            `cold start: ${served.dir} answered ${probe.method} ${probe.path} with ${answer.status}: ${answer.body}\n${stderr}`,
          );
        }
        const rssMiB = residentMiB(child);
        const { process: cpuMs = Number.NaN } = await cpuTimes({ process: child.pid! });
        return { ms, rssMiB, cpuMs };
      }
      await sleep(2);
    }
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  }
}

function residentMiB(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`cold start: no VmRSS in /proc/${child.pid}/status`);
  return Number(kib) / 1024;
}

function send(url: string, probe: Probe): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${probe.path}`,
      {
        method: probe.method,
        agent: false,
        headers: {
          ...(probe.body ? { 'content-type': 'application/json' } : {}),
          ...(probe.authorization ? { authorization: probe.authorization } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(probe.body);
  });
}
