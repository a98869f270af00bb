import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { createDb, migrateToLatest, seedCatalog } from '@orders/db';
import {
  functions as declaredFunctions,
  type FunctionName,
  type Trigger,
} from '@orders/deployment';
import { type DevIssuer, type DevSigningKey, startDevIssuer } from './dev-issuer';
import { alsoToFile } from './function-log';
import { type PostgresServer, startPostgres } from './postgres-server';
import { type PubSubEmulator, startPubSubEmulator } from './pubsub-emulator';
import { type PubSubProxy, startPubSubProxy } from './pubsub-proxy';
import { type Scheduler, startScheduler } from './scheduler';
import type { ProcessExit } from './spawn-managed';
import { type SupervisedFunction, superviseFunction } from './supervised-function';
import { createTopology, pushEndpoint } from './topology-setup';

/** A function to serve that is not (or not only) in the declaration, e.g. a test fixture. */
export interface FunctionSpec {
  name: string;
  /** Its workspace directory (package.json `main` is what gets loaded). */
  dir: string;
  entryPoint: string;
  /** A topic trigger makes it the push target of that topic's consumer subscription. */
  trigger: Trigger;
}

export interface LocalStackOptions {
  projectId: string;
  /**
   * Declared functions to serve from `functions/<name>`, explicit specs, or 'all-existing':
   * every declared function whose workspace has been built.
   */
  functions: readonly (FunctionName | FunctionSpec)[] | 'all-existing';
  /** Default true; false for tests (see startPostgres). */
  durable?: boolean;
  /** Read for DATABASE_URL and PUBSUB_EMULATOR_HOST (reuse), PATH, LOG_LEVEL; passed on to the functions. */
  env?: NodeJS.ProcessEnv;
  /** Extra environment for one function, applied last. */
  functionEnv?: (name: string) => NodeJS.ProcessEnv;
  /** The monorepo root holding `functions/`; default: two levels above this package. */
  rootDir?: string;
  /** The Cloud SDK root for the emulator; found from env when not given. */
  sdkRoot?: string;
  /** Lifecycle lines of the stack. */
  log?: (line: string) => void;
  /** Function output; default process.stdout/stderr. Lines are prefixed with the function name. */
  functionStdout?: Writable;
  functionStderr?: Writable;
  /**
   * A file every function's stdout (its JSON log lines, prefixed with its name) is appended
   * to as well: what `pnpm trace` reads (`pnpm dev` writes `.local/functions.log`).
   */
  functionLogFile?: string;
  /** Called when a function process ends while the stack is not stopping. */
  onFunctionExit?: (name: string, exit: ProcessExit) => void;
  /**
   * A base URL that push subscriptions target instead of the functions (a proxy that
   * forwards `/projects/P/topics/T` to the topic's function; see `pnpm chaos`).
   */
  pushVia?: string;
  /** Delivery attempts of every consumer subscription (see TopologyOptions). */
  maxDeliveryAttempts?: number;
  /**
   * Put a Pub/Sub proxy between the functions and the emulator (`LocalStack.pubsubProxy`),
   * which can refuse a topic's publishes for a while (see `pnpm chaos`).
   */
  pubsubProxy?: boolean;
  /** How often the housekeeping function gets a tick, when it runs; default 5 s. */
  housekeepingIntervalMs?: number;
}

export interface LocalStack {
  databaseUrl: string;
  pubsubEmulatorHost: string;
  projectId: string;
  /** Function name -> `http://127.0.0.1:PORT`. */
  functions: Record<string, string>;
  /** The processes this stack owns (absent when reused from env), as started. */
  pids: {
    postgres?: number;
    pubsubEmulator?: number;
    functions: Record<string, number | undefined>;
  };
  /** Between the functions and the emulator, when asked for (`pubsubProxy: true`). */
  pubsubProxy?: PubSubProxy;
  /**
   * The development issuer place-order trusts, when the stack serves place-order and the
   * environment names no issuer of its own (`AUTH_ISSUER`).
   */
  auth?: DevAuth;
  /** The PID a function runs under now (it changes when a dead process is restarted). */
  functionPid(name: string): number | undefined;
  /** Stops functions, then the emulator and PostgreSQL. Safe to call more than once. */
  stop(): Promise<void>;
}

/** The stack's development issuer: tokens for any customer. */
export interface DevAuth {
  issuer: string;
  audience: string;
  /** A fresh token for `customerId`, valid for an hour. */
  token(customerId: string): Promise<string>;
  /** What `pnpm run token` signs with (kept in the owner-only dev stack file). */
  signingKey: DevSigningKey;
}

/**
 * Everything a function needs on one machine: PostgreSQL migrated and seeded, the Pub/Sub
 * emulator, each function on functions-framework, and the topology with push subscriptions
 * to the consumers that run. A failure part way stops what had started, then rethrows.
 */
/** The monorepo root: functions/ and .local/ live there. */
/** The checkout: its `.local` holds what a stack started here keeps. */
export const repoRoot = resolve(__dirname, '..', '..', '..');

/**
 * The file `pnpm dev` writes its ready line to, for the tools that use a running stack:
 * DEV_STACK_FILE, else the checkout's `.local/dev-stack.json`. `pnpm dev`, `pnpm demo` and
 * every tool read it here, so they agree on the stack, its lock and its local files.
 */
export function devStackFile(env: { DEV_STACK_FILE?: string | undefined } = process.env): string {
  return env.DEV_STACK_FILE || join(repoRoot, '.local', 'dev-stack.json');
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const rootDir = options.rootDir ?? repoRoot;
  const { projectId } = options;
  const running: SupervisedFunction[] = [];
  let postgres: PostgresServer | undefined;
  let emulator: PubSubEmulator | undefined;
  let scheduler: Scheduler | undefined;
  let proxy: PubSubProxy | undefined;
  let issuer: DevIssuer | undefined;
  let stopping: Promise<void> | undefined;
  const functionLog = options.functionLogFile
    ? alsoToFile(options.functionStdout ?? process.stdout, options.functionLogFile, (error) =>
        log(`function log file ${options.functionLogFile}: ${error.message}`),
      )
    : undefined;

  const stopAll = async () => {
    const failures: unknown[] = [];
    const collect = (results: PromiseSettledResult<unknown>[]) => {
      for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
    };
    collect(await Promise.allSettled([scheduler?.stop()]));
    collect(await Promise.allSettled(running.map((fn) => fn.stop())));
    collect(await Promise.allSettled([functionLog?.close()]));
    collect(
      await Promise.allSettled([
        proxy?.close(),
        issuer?.stop(),
        emulator?.stop(),
        postgres?.stop(),
      ]),
    );
    if (failures.length > 0) throw failures[0];
  };
  const stop = () => {
    stopping ??= stopAll();
    return stopping;
  };

  try {
    // Both are slow to start (the JVM most), so in parallel; whichever fails, the other is
    // still awaited so that it can be stopped, never leaked.
    const [pg, ps] = await Promise.allSettled([
      startPostgres({ durable: options.durable, env, log }),
      startPubSubEmulator({ env, log, sdkRoot: options.sdkRoot }),
    ]);
    if (pg.status === 'fulfilled') postgres = pg.value;
    if (ps.status === 'fulfilled') emulator = ps.value;
    if (pg.status === 'rejected') throw pg.reason;
    if (ps.status === 'rejected') throw ps.reason;
    const databaseUrl = postgres!.url;
    const pubsubEmulatorHost = emulator!.host;

    const db = createDb(databaseUrl);
    try {
      await migrateToLatest(db);
      await seedCatalog(db);
    } finally {
      await db.destroy();
    }

    if (options.pubsubProxy) proxy = await startPubSubProxy({ emulatorHost: pubsubEmulatorHost });
    const specs = await resolveFunctions(options.functions, rootDir);
    if (specs.some((spec) => spec.name === 'place-order') && !env.AUTH_ISSUER) {
      issuer = await startDevIssuer({ audience: projectId });
      log(`development issuer at ${issuer.issuer}`);
    }
    const authEnv = (name: string): NodeJS.ProcessEnv =>
      issuer && name === 'place-order'
        ? {
            AUTH_ISSUER: issuer.issuer,
            AUTH_AUDIENCE: issuer.audience,
            AUTH_JWKS_URL: issuer.jwksUrl,
          }
        : {};
    const started = await Promise.allSettled(
      specs.map(async (spec) => {
        const fn = await superviseFunction(
          {
            name: spec.name,
            dir: spec.dir,
            entryPoint: spec.entryPoint,
            signatureType: spec.trigger.kind === 'http' ? 'http' : 'cloudevent',
            env: {
              ...env,
              DATABASE_URL: databaseUrl,
              PUBSUB_EMULATOR_HOST: proxy?.host ?? pubsubEmulatorHost,
              GOOGLE_CLOUD_PROJECT: projectId,
              // What Cloud Run functions sets, so logs and config can name the function; not
              // K_SERVICE, which says "on Cloud Run", where the development issuer and the
              // sandbox payment provider are refused.
              FUNCTION_NAME: spec.name,
              FUNCTION_TARGET: spec.entryPoint,
              NODE_ENV: 'production',
              LOG_LEVEL: env.LOG_LEVEL ?? 'info',
              ...authEnv(spec.name),
              ...options.functionEnv?.(spec.name),
            },
            stdout: functionLog?.stream ?? options.functionStdout,
            stderr: options.functionStderr,
            linePrefix: `${spec.name} | `,
          },
          {
            log,
            onExit: (exit) => options.onFunctionExit?.(spec.name, exit),
          },
        );
        running.push(fn);
        log(`function ${spec.name} ready (pid ${fn.pid()}) at ${fn.url}`);
        return fn;
      }),
    );
    for (const result of started) if (result.status === 'rejected') throw result.reason;

    const urls: Record<string, string> = {};
    const pushEndpoints: Partial<Record<string, string>> = {};
    for (const spec of specs) {
      const fn = running.find((candidate) => candidate.name === spec.name)!;
      urls[spec.name] = fn.url;
      if (spec.trigger.kind === 'topic') {
        const topic = spec.trigger.topic;
        if (pushEndpoints[topic]) throw new Error(`two functions consume topic ${topic}`);
        pushEndpoints[topic] = pushEndpoint(options.pushVia ?? fn.url, projectId, topic);
      }
    }
    await createTopology({
      emulatorHost: pubsubEmulatorHost,
      projectId,
      pushEndpoints,
      ...(options.maxDeliveryAttempts ? { maxDeliveryAttempts: options.maxDeliveryAttempts } : {}),
    });
    if (pushEndpoints.housekeeping) {
      scheduler = startScheduler({
        emulatorHost: pubsubEmulatorHost,
        projectId,
        topic: 'housekeeping',
        intervalMs: options.housekeepingIntervalMs ?? 5_000,
        log,
      });
    }
    log(`local stack ready: ${Object.keys(urls).length} function(s) in project ${projectId}`);

    return {
      databaseUrl,
      pubsubEmulatorHost,
      projectId,
      functions: urls,
      ...(proxy ? { pubsubProxy: proxy } : {}),
      ...(issuer ? { auth: devAuthOf(issuer) } : {}),
      pids: {
        postgres: postgres!.pid,
        pubsubEmulator: emulator!.pid,
        functions: Object.fromEntries(running.map((fn) => [fn.name, fn.pid()])),
      },
      functionPid: (name) => running.find((fn) => fn.name === name)?.pid(),
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

function devAuthOf(issuer: DevIssuer): DevAuth {
  const { issuer: url, audience, privateJwk } = issuer;
  return {
    issuer: url,
    audience,
    token: (customerId) => issuer.token(customerId),
    signingKey: { issuer: url, audience, privateJwk },
  };
}

async function resolveFunctions(
  requested: LocalStackOptions['functions'],
  rootDir: string,
): Promise<FunctionSpec[]> {
  const declared = (name: FunctionName): FunctionSpec => ({
    name,
    dir: join(rootDir, 'functions', name),
    ...declaredFunctions[name],
  });
  if (requested !== 'all-existing') {
    return requested.map((entry) => (typeof entry === 'string' ? declared(entry) : entry));
  }
  const specs = (Object.keys(declaredFunctions) as FunctionName[]).map(declared);
  const built = await Promise.all(specs.map((spec) => isBuilt(spec.dir)));
  return specs.filter((_, index) => built[index]);
}

/** A workspace is servable once the file its package.json `main` names exists. */
async function isBuilt(dir: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      main?: string;
    };
    await access(join(dir, manifest.main ?? 'index.js'));
    return true;
  } catch {
    return false;
  }
}
