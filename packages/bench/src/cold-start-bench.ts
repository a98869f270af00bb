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
import { bundleFunction, functions as declared, type FunctionName } from '@orders/deployment';
import { type Envelope, encodeEvent } from '@orders/events';
import {
  createTopology,
  type DevIssuer,
  freePort,
  queryOnce,
  startDevIssuer,
  startGoogleApiDouble,
  startPostgres,
  startPubSubEmulator,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { percentile } from '@orders/platform';
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

/** One cold-start pair of measures: `cold-start-<name>` and `rss-<name>`. */
interface Subject {
  name: string;
  function: FunctionName;
  served: Served;
  /** The settings the subject runs with, beyond every function's. */
  env: NodeJS.ProcessEnv;
  /** What the warm process must have done besides answering 2xx (and may still do). */
  afterwards?: (url: string) => Promise<void>;
}

/**
 * Measure 4, cold start: each function's deploy artifact (bundled now, as `pnpm bundle`
 * does), spawned with functions-framework the way Cloud Run functions does, timed from spawn
 * to its first 2xx answer to a real request, and its resident memory right after; beside a
 * hello-world function of the same signature type, spawned the same way, in turns.
 * analytics-loader is measured as deployed, loading into BigQuery (a double of BigQuery's
 * REST API and of the metadata server its credentials come from, on a local port), and
 * apart, as `analytics-loader-duckdb`, with the local DuckDB warehouse.
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
        dir: deployCopy(artifact.dir, join(workDir, copy), name, artifact.dependencies),
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
    });
    const pushBody = (data: Buffer, attributes: Record<string, string>) =>
      JSON.stringify({
        message: {
          data: data.toString('base64'),
          attributes,
          messageId: randomUUID(),
          publishTime: new Date().toISOString(),
        },
        subscription: `projects/${projectId}/subscriptions/bench`,
      });
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

    // In this order, each function's real input is what the one before wrote: place-order
    // places an order after its measurement, process-order reserves it and requests its payment.
    let loadedEventId: string | undefined;
    const probes: Record<FunctionName, (index: number) => Promise<Probe>> = {
      'place-order': async () => ({ method: 'GET', path: '/products' }),
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
    const afterwards: Partial<Record<FunctionName, (url: string) => Promise<void>>> = {
      'place-order': async (url) => placeOneOrder(url, issuer),
      // A 2xx is also what a dead-lettered event gets: the row must be in BigQuery's double.
      'analytics-loader': async () => {
        if (!googleApis.inserted.some((row) => row.insertId === loadedEventId)) {
          throw new Error(
            `cold start: analytics-loader answered 2xx but inserted no row for ${loadedEventId} into BigQuery`,
          );
        }
      },
    };
    const subjects: Subject[] = [];
    for (const name of names) {
      subjects.push({
        name,
        function: name,
        served: served.get(name)!,
        env: {},
        afterwards: afterwards[name],
      });
      if (name === 'analytics-loader') {
        subjects.push({
          name: `${name}-duckdb`,
          function: name,
          served: await serve(name, 'duckdb'),
          env: { WAREHOUSE: 'duckdb' },
        });
      }
    }

    const measures: Measure[] = [];
    for (const subject of subjects) {
      const { name, served: fn } = subject;
      const baseline = hello[fn.signatureType];
      const helloProbe: Probe =
        fn.signatureType === 'http'
          ? { method: 'GET', path: '/' }
          : {
              method: 'POST',
              path: `/projects/${projectId}/topics/hello`,
              body: pushBody(Buffer.from('{}'), {}),
            };
      const figures: Start[] = [];
      const baselines: Start[] = [];
      for (let i = 0; i < repeats; i++) {
        // In turns, so that a noisy moment of the machine hits both alike.
        baselines.push(await coldStart(baseline, functionEnv(`hello-${i}`), helloProbe));
        figures.push(
          await coldStart(
            fn,
            { ...functionEnv(`${name}-${i}`), ...subject.env },
            await probes[subject.function](i),
            subject.afterwards,
          ),
        );
      }
      const median = (values: number[]) => percentile(values, 0.5) ?? Number.NaN;
      const ms = median(figures.map((start) => start.ms));
      const baselineMs = median(baselines.map((start) => start.ms));
      const rss = median(figures.map((start) => start.rssMiB));
      const baselineRss = median(baselines.map((start) => start.rssMiB));
      log(
        `cold start: ${name} ${ms.toFixed(0)} ms, ${rss.toFixed(1)} MiB ` +
          `(hello-world ${baselineMs.toFixed(0)} ms, ${baselineRss.toFixed(1)} MiB)`,
      );
      const cpuMs = median(figures.map((start) => start.cpuMs));
      const baselineCpuMs = median(baselines.map((start) => start.cpuMs));
      const runs = `median of ${repeats}`;
      measures.push(
        measure(
          `cold-start-${name}`,
          'ms',
          ms,
          baselineMs,
          `spawn to first 2xx of ${probeName(subject.function)}${warehouseOf(subject)}, ${runs}; baseline: hello-world ${fn.signatureType} function; CPU to the first answer ${cpuMs.toFixed(0)} ms against ${baselineCpuMs.toFixed(0)} ms (${(cpuMs / baselineCpuMs).toFixed(2)}x)`,
        ),
        measure(
          `rss-${name}`,
          'MiB',
          rss,
          baselineRss,
          `VmRSS after the first request, ${runs}; baseline: hello-world ${fn.signatureType} function`,
        ),
      );
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
      return 'GET /products';
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
  name: string,
  dependencies: Record<string, string>,
): string {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(artifactDir))
    copyFileSync(join(artifactDir, file), join(dir, file));
  linkDependencies(dir, dependencies, join(repoRoot, 'functions', name));
  return dir;
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
 * until the port accepts it, and times spawn to the first 2xx; then reads VmRSS. `afterwards`
 * runs against the warm process before it stops.
 */
async function coldStart(
  served: Served,
  env: NodeJS.ProcessEnv,
  probe: Probe,
  afterwards?: (url: string) => Promise<void>,
): Promise<Start> {
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
        const { process: cpuMs = Number.NaN } = await cpuTimes({ process: child.pid });
        if (afterwards) await afterwards(url);
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

async function placeOneOrder(url: string, issuer: DevIssuer): Promise<void> {
  const answer = await send(url, {
    method: 'POST',
    path: '/orders',
    authorization: `Bearer ${await issuer.token(`bench-cold-${randomUUID()}`)}`,
    body: JSON.stringify({
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1 }],
    }),
  });
  if (answer.status !== 202) {
    throw new Error(`cold start: placing an order answered ${answer.status}: ${answer.body}`);
  }
}
