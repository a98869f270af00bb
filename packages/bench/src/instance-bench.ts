import { execFile } from 'node:child_process';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seedProducts } from '@orders/db';
import { functions as declared, type FunctionName, functionSizing } from '@orders/deployment';
import {
  createTopology,
  emulatorClient,
  type FunctionProcess,
  lineSink,
  pullMessages,
  pushRequestBody,
  startDevIssuer,
  startFunction,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { percentile } from '@orders/platform';
import { driveConcurrently, runCleanup, startServers } from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuTimes } from './process-cpu';

const repoRoot = join(__dirname, '..', '..', '..');

/** A message pulled from the emulator. */
type Message = Awaited<ReturnType<typeof pullMessages>>[number];

interface Sizes {
  /** Concurrency levels, the first (1) the baseline of the others. */
  levels: readonly number[];
  /** Requests per level and round. */
  perLevel: Record<number, number>;
  /** Rounds: every level once per round, so that noise on this shared machine hits each. */
  rounds: number;
  /** Requests at the highest level before anything is timed (JIT, pool connections). */
  warmup: number;
}

const fullSizes: Sizes = {
  levels: [1, 8, 16, 32],
  perLevel: { 1: 120, 8: 400, 16: 400, 32: 400 },
  rounds: 2,
  warmup: 60,
};
const quickSizes: Sizes = { levels: [1, 8], perLevel: { 1: 6, 8: 16 }, rounds: 1, warmup: 4 };

/** What one level of one function came to, over its rounds. */
interface LevelFigures {
  latenciesMs: number[];
  elapsedMs: number;
  /** CPU time (user + system) of the function process. */
  cpuMs: number;
  /** The most resident memory of the function process while the level ran. */
  peakRssMiB: number;
  /** CFS periods of the cgroup in which the quota was used up (throttled), when known. */
  throttledPeriods: number;
  periods: number;
}

/** One function under test: how to start it and how to send it one unit of work. */
interface Subject {
  name: Extract<FunctionName, 'place-order' | 'process-order' | 'payment-handler'>;
  signatureType: 'http' | 'cloudevent';
  env: NodeJS.ProcessEnv;
  /** Every request of the run, in order; each rejects unless the function answers 2xx. */
  requests: (fn: FunctionProcess) => Promise<(() => Promise<void>)[]>;
}

/**
 * `instance`: what one function process sustains at concurrency 1, 8, 16 and 32 under the CPU
 * share that `gcloud functions deploy --cpu` gives it (BENCH_INSTANCE_CPU, default 1): each
 * function is served by functions-framework from its built workspace, as the stack serves it,
 * then put in a cgroup whose CFS quota is that many CPUs (or, where cgroups cannot be
 * written, pinned to as many cores with taskset). The chain is real: place-order takes
 * `POST /orders`; the OrderPlaced events it published are pulled from the emulator and
 * pushed to process-order as Pub/Sub pushes; the PaymentRequested events process-order
 * published, to payment-handler (the sandbox provider, 20 ms a call). Each function gets the
 * DB_POOL_SIZE the deploy gives it. Per function and level: function CPU per order, p99,
 * throughput and peak RSS, against the same at concurrency 1.
 */
export async function benchInstance(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cpu = Number(env.BENCH_INSTANCE_CPU ?? 1);
  if (!(cpu > 0)) throw new Error(`BENCH_INSTANCE_CPU must be a positive number, not ${cpu}`);
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const { postgres, emulator } = await startServers(context, cleanup);
    const database = await testDatabase('bench_instance', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    await database.db.updateTable('products').set({ stock: 1_000_000_000 }).execute();
    await database.db.destroy();
    const projectId = testProjectId('bench-instance');
    // No push endpoints: each consumer's subscription is a pull one, from which the bench
    // takes what the function before it published.
    await createTopology({ emulatorHost: emulator.host, projectId, pushEndpoints: {} });
    const pubsub = emulatorClient({ projectId, emulatorHost: emulator.host });
    cleanup.push(() => pubsub.close());
    const issuer = await startDevIssuer({ audience: projectId });
    cleanup.push(() => issuer.stop());
    const confinement = await confineCpu(cpu, log);
    cleanup.push(() => confinement.release());
    log(`instance: ${confinement.how}`);

    const perFunction =
      sizes.warmup + sizes.rounds * sumOf(sizes.levels.map((n) => sizes.perLevel[n]!));
    const commonEnv = {
      PATH: env.PATH,
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      PUBSUB_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: projectId,
      LOG_LEVEL: 'warn',
    };
    const customers = Array.from({ length: 200 }, (_, n) => `bench-${n}`);
    const tokens = await Promise.all(customers.map((customer) => issuer.token(customer)));
    const skus = seedProducts.filter((product) => product.stock > 0).map((p) => p.sku);
    const run = `${process.pid}-${Date.now().toString(36)}`;

    const placeOrder: Subject = {
      name: 'place-order',
      signatureType: 'http',
      env: {
        ...commonEnv,
        AUTH_ISSUER: issuer.issuer,
        AUTH_AUDIENCE: issuer.audience,
        AUTH_JWKS_URL: issuer.jwksUrl,
        // Each customer places dozens of orders that no saga settles here: not what is measured.
        MAX_OPEN_ORDERS_PER_CUSTOMER: '1000000000',
      },
      requests: async (fn) =>
        Array.from(
          { length: perFunction },
          (_, n) => () =>
            succeeded(
              fetch(`${fn.url}/orders`, {
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  authorization: `Bearer ${tokens[n % tokens.length]}`,
                  'idempotency-key': `${run}-${n}`,
                },
                body: JSON.stringify({
                  currency: 'EUR',
                  items: [{ sku: skus[n % skus.length], quantity: 1 + (n % 3) }],
                }),
              }),
            ),
        ),
    };
    // A consumer is pushed what the function before it published, pulled from its subscription.
    const consumer = (
      name: 'process-order' | 'payment-handler',
      extraEnv: NodeJS.ProcessEnv = {},
    ): Subject => ({
      name,
      signatureType: 'cloudevent',
      env: { ...commonEnv, ...extraEnv },
      requests: async (fn) =>
        (await pullAll(pubsub, name, perFunction, log)).map(
          (message) => () => push(fn, projectId, name, message),
        ),
    });
    const subjects = [
      placeOrder,
      consumer('process-order'),
      consumer('payment-handler', { PAYMENT_PROVIDER: 'sandbox' }),
    ];
    const figures = new Map<Subject['name'], Map<number, LevelFigures>>();
    for (const subject of subjects) {
      figures.set(subject.name, await measureFunction(subject, sizes, confinement, log));
    }
    return [...figures].flatMap(([name, levels]) => measuresOf(name, levels, sizes, confinement));
  } finally {
    await runCleanup(cleanup, log);
  }
}

/** Serves one function, confines it, drives it at every level in turns, and stops it. */
async function measureFunction(
  subject: Subject,
  sizes: Sizes,
  confinement: CpuConfinement,
  log: (line: string) => void,
): Promise<Map<number, LevelFigures>> {
  const sizing = functionSizing[subject.name];
  const fn = await startFunction({
    name: subject.name,
    dir: join(repoRoot, 'functions', subject.name),
    entryPoint: declared[subject.name].entryPoint,
    signatureType: subject.signatureType,
    env: { ...subject.env, DB_POOL_SIZE: String(sizing.dbPoolSize) },
    stdout: lineSink(),
    linePrefix: `${subject.name} | `,
  });
  try {
    if (fn.pid === undefined) throw new Error(`${subject.name} has no pid`);
    const pid = fn.pid;
    await confinement.add(pid);
    const queue = await subject.requests(fn);
    const highest = Math.max(...sizes.levels);
    await driveConcurrently(queue.splice(0, sizes.warmup), highest, (send) => send());
    const levels = new Map<number, LevelFigures>();
    for (let round = 0; round < sizes.rounds; round++) {
      const line: string[] = [];
      for (const concurrency of sizes.levels) {
        const items = queue.splice(0, sizes.perLevel[concurrency]!);
        const figures = await measureLevel(pid, items, concurrency, confinement);
        levels.set(concurrency, merge(levels.get(concurrency), figures));
        line.push(
          `c${concurrency} ${rateOf(figures).toFixed(0)}/s ${(figures.cpuMs / items.length).toFixed(2)} CPU ms`,
        );
      }
      log(`instance: ${subject.name} round ${round + 1}: ${line.join(', ')}`);
    }
    return levels;
  } finally {
    await fn.stop();
  }
}

async function measureLevel(
  pid: number,
  items: (() => Promise<void>)[],
  concurrency: number,
  confinement: CpuConfinement,
): Promise<LevelFigures> {
  await resetPeakRss(pid);
  const throttledBefore = await confinement.throttling();
  const cpuBefore = await cpuTimes({ fn: pid });
  const run = await driveConcurrently(items, concurrency, (send) => send());
  const cpuAfter = await cpuTimes({ fn: pid });
  const throttledAfter = await confinement.throttling();
  return {
    ...run,
    cpuMs: (cpuAfter.fn ?? Number.NaN) - (cpuBefore.fn ?? Number.NaN),
    peakRssMiB: await peakRssMiB(pid),
    throttledPeriods: throttledAfter.throttled - throttledBefore.throttled,
    periods: throttledAfter.periods - throttledBefore.periods,
  };
}

function merge(before: LevelFigures | undefined, next: LevelFigures): LevelFigures {
  if (!before) return next;
  return {
    latenciesMs: [...before.latenciesMs, ...next.latenciesMs],
    elapsedMs: before.elapsedMs + next.elapsedMs,
    cpuMs: before.cpuMs + next.cpuMs,
    // The first round's: levels run in ascending order, and the heap a level grew stays for
    // the next, so a later round's concurrency 1 would start from the highest level's.
    peakRssMiB: before.peakRssMiB,
    throttledPeriods: before.throttledPeriods + next.throttledPeriods,
    periods: before.periods + next.periods,
  };
}

function measuresOf(
  name: string,
  levels: Map<number, LevelFigures>,
  sizes: Sizes,
  confinement: CpuConfinement,
): Measure[] {
  const [first, ...others] = sizes.levels;
  const base = levels.get(first!)!;
  const summary = (figures: LevelFigures) => ({
    cpuPerOrder: figures.cpuMs / figures.latenciesMs.length,
    p50: percentile(figures.latenciesMs, 0.5) ?? Number.NaN,
    p99: percentile(figures.latenciesMs, 0.99) ?? Number.NaN,
    throughput: rateOf(figures),
    peakRssMiB: figures.peakRssMiB,
    throttled:
      figures.periods > 0
        ? `throttled in ${((100 * figures.throttledPeriods) / figures.periods).toFixed(0)}% of CFS periods`
        : 'throttling unknown',
  });
  const b = summary(base);
  const shape = `${confinement.how}; pool ${functionSizing[name as FunctionName].dbPoolSize}`;
  return others.flatMap((concurrency) => {
    const f = summary(levels.get(concurrency)!);
    const prefix = `instance-${name}-c${concurrency}`;
    const count = levels.get(concurrency)!.latenciesMs.length;
    return [
      measure(
        `${prefix}-cpu-per-order`,
        'ms',
        f.cpuPerOrder,
        b.cpuPerOrder,
        `the function process's CPU (user + system) per order at concurrency ${concurrency} (${count} orders), ${shape}; ${f.throttled} (c1: ${b.throttled}); baseline: the same at concurrency 1`,
      ),
      measure(
        `${prefix}-p99`,
        'ms',
        f.p99,
        b.p99,
        `p50 ${f.p50.toFixed(1)} ms; baseline: concurrency 1 (p50 ${b.p50.toFixed(1)} ms)`,
      ),
      measure(
        `${prefix}-throughput`,
        'orders/s',
        f.throughput,
        b.throughput,
        'orders answered per second of the level; baseline: concurrency 1',
      ),
      measure(
        `${prefix}-peak-rss`,
        'MiB',
        f.peakRssMiB,
        b.peakRssMiB,
        'VmHWM of the function process over the level (reset before it), first round (levels ascending); baseline: concurrency 1',
      ),
    ];
  });
}

const rateOf = (figures: LevelFigures) => figures.latenciesMs.length / (figures.elapsedMs / 1000);
const sumOf = (numbers: readonly number[]) => numbers.reduce((sum, n) => sum + n, 0);

async function succeeded(answer: Promise<Response>): Promise<void> {
  const response = await answer;
  const body = await response.text();
  if (!response.ok) throw new Error(`${response.url}: ${response.status} ${body.slice(0, 300)}`);
}

/** A Pub/Sub push of `message`, as the emulator (and Pub/Sub) posts it to a consumer. */
function push(
  fn: FunctionProcess,
  projectId: string,
  subscription: 'process-order' | 'payment-handler',
  message: Message,
): Promise<void> {
  const { topic } = declared[subscription].trigger;
  const body = pushRequestBody(
    { ...message, messageId: message.id },
    `projects/${projectId}/subscriptions/${subscription}`,
  );
  return succeeded(
    fetch(`${fn.url}/projects/${projectId}/topics/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }),
  );
}

/** Every message the function before published to `subscription`'s topic, `count` of them. */
async function pullAll(
  pubsub: ReturnType<typeof emulatorClient>,
  subscription: string,
  count: number,
  log: (line: string) => void,
): Promise<Message[]> {
  const pulled = await pullMessages(pubsub, subscription, { count, timeoutMs: 60_000 });
  const unique = [...new Map(pulled.map((message) => [message.id, message])).values()];
  log(`instance: pulled ${unique.length} messages from ${subscription}`);
  if (unique.length < count) {
    throw new Error(`${subscription}: ${unique.length} messages to push, ${count} needed`);
  }
  return unique;
}

/** Resets the process's peak resident set (VmHWM) to its current one (Linux, own processes). */
async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/** How the function's CPU is held to the share `--cpu` gives it. */
interface CpuConfinement {
  /** e.g. `cgroup v1 CFS quota 100000/100000 us (1 CPU)`. */
  how: string;
  add(pid: number): Promise<void>;
  /** CFS periods so far and those in which the quota ran out (zeros when unknown). */
  throttling(): Promise<{ periods: number; throttled: number }>;
  /** Removes the group (its processes have ended by then). */
  release(): Promise<void>;
}

const cfsPeriodUs = 100_000;

/**
 * A cgroup of its own with a CFS quota of `cpu` CPUs: cgroup v1's cpu controller at
 * /sys/fs/cgroup/cpu, else cgroup v2's cpu.max; where neither can be written (not root, no
 * delegation), the process is pinned to ceil(cpu) cores with taskset instead, which is no
 * fraction of a core.
 */
async function confineCpu(cpu: number, log: (line: string) => void): Promise<CpuConfinement> {
  const quotaUs = Math.round(cpu * cfsPeriodUs);
  const group = `orders-bench-instance-${process.pid}`;
  const attempts = [
    {
      root: '/sys/fs/cgroup/cpu',
      version: 'v1',
      limit: async (dir: string) => {
        await writeFile(join(dir, 'cpu.cfs_period_us'), String(cfsPeriodUs));
        await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
      },
    },
    {
      root: '/sys/fs/cgroup',
      version: 'v2',
      limit: (dir: string) => writeFile(join(dir, 'cpu.max'), `${quotaUs} ${cfsPeriodUs}`),
    },
  ];
  const failures: string[] = [];
  for (const { root, version, limit } of attempts) {
    const dir = join(root, group);
    try {
      await mkdir(dir);
    } catch (error) {
      failures.push(`${dir}: ${(error as Error).message}`);
      continue;
    }
    try {
      await limit(dir);
    } catch (error) {
      failures.push(`${dir}: ${(error as Error).message}`);
      await rmdir(dir).catch(() => {});
      continue;
    }
    return {
      how: `cgroup ${version} CFS quota ${quotaUs}/${cfsPeriodUs} us (${cpu} CPU)`,
      add: (pid) => writeFile(join(dir, 'cgroup.procs'), String(pid)),
      throttling: async () => {
        const stat = await readFile(join(dir, 'cpu.stat'), 'utf8').catch(() => '');
        const field = (name: string) =>
          Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
        return { periods: field('nr_periods'), throttled: field('nr_throttled') };
      },
      release: () => rmdir(dir),
    };
  }
  const cores = Math.max(1, Math.ceil(cpu));
  log(`instance: no cgroup could be written (${failures.join('; ')}): taskset to ${cores} core(s)`);
  return {
    how: `taskset to ${cores} core(s), not a CFS quota: no cgroup could be written`,
    add: async (pid) => {
      await promisify(execFile)('taskset', ['-a', '-p', '-c', `0-${cores - 1}`, String(pid)]);
    },
    throttling: async () => ({ periods: 0, throttled: 0 }),
    release: async () => {},
  };
}
