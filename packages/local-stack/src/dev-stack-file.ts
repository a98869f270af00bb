import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import type { LocalStack } from './local-stack';
import { isProcessAlive } from './test-harness';

/** The customer of the token on the ready line (`pnpm run token <customerId>` makes others). */
const developmentCustomer = 'cust-dev';

/**
 * The ready line of `pnpm dev` for `stack`, and writes it to `path` (where `pnpm demo`, `pnpm
 * dlq`, `pnpm sagas` and `pnpm run token` find the running stack). The file also holds the
 * development issuer's signing key (and the URL, the database password): it is created
 * afresh readable by its owner only (an older file's wider mode never holds them); the
 * ready line does not carry the key. The file also names `pid`, the process that runs the
 * stack, so that a tool can tell a file left by a crash from a running stack.
 */
export async function writeDevStackFile(
  stack: LocalStack,
  path: string,
  pid: number = process.pid,
): Promise<string> {
  const auth = stack.auth && {
    issuer: stack.auth.issuer,
    token: await stack.auth.token(developmentCustomer),
  };
  const ready = {
    ready: true,
    databaseUrl: stack.databaseUrl,
    pubsubEmulatorHost: stack.pubsubEmulatorHost,
    projectId: stack.projectId,
    functions: stack.functions,
    ...(auth ? { auth } : {}),
  };
  const file = {
    ...(auth ? { ...ready, auth: { ...auth, signingKey: stack.auth!.signingKey } } : ready),
    pid,
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await rm(path, { force: true });
  await writeFile(path, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: 'wx' });
  return JSON.stringify(ready);
}

/** The `pnpm dev` of this checkout, already running: its process and, once ready, its file. */
export interface RunningDevStack {
  pid: number;
  /** Where it will write, or has written, its ready line. */
  stackFile: string;
  /** place-order's URL, once it is ready. */
  placeOrderUrl: string | undefined;
}

/** What `pnpm dev` holds while it runs: released (lock and stack file, if still its own) on stop. */
export interface DevStackClaim {
  release(): Promise<void>;
}

/** The lock beside the stack file: the pid of the one `pnpm dev` of this checkout. */
export const devStackLockFile = (stackFile: string) => join(dirname(stackFile), 'dev.lock');

/**
 * Claims the checkout for one `pnpm dev` (this process, `pid`): creates the lock beside
 * `stackFile` holding `pid`, unless a live process holds it (then that one is returned and
 * nothing is touched). A lock whose process is gone (a crash) is taken over, by one process
 * only when several start at once (see claimFile).
 */
export async function claimDevStack(
  stackFile: string,
  pid: number = process.pid,
): Promise<DevStackClaim | RunningDevStack> {
  const lock = devStackLockFile(stackFile);
  await mkdir(dirname(lock), { recursive: true, mode: 0o700 });
  const holder = await claimFile(lock, pid);
  if (holder === undefined) return { release: () => releaseDevStack(stackFile, pid) };
  return { pid: holder, stackFile, placeOrderUrl: await placeOrderOf(stackFile, holder) };
}

/**
 * Makes `path` hold `pid`, unless a live process holds it: returns that process, or undefined
 * once `path` is this one's. The file appears whole or not at all (linked from a private
 * file), so a reader never takes a half-written lock for a stale one. A stale file (its
 * process is gone, or it names none) is removed only by the one process that claims
 * `path.takeover` (the same way, so a taker that crashed is taken over in turn), and only
 * if it still holds what was judged stale: two processes started at once after a crash
 * cannot both remove a lock and both create one.
 */
async function claimFile(path: string, pid: number): Promise<number | undefined> {
  for (let polls = 0; ; polls++) {
    if (await linkExclusive(path, pid)) return undefined;
    const seen = await readFile(path, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile
    const holder = pidOfText(seen);
    if (holder !== undefined && holder !== pid && isProcessAlive(holder)) return holder;
    const takeover = `${path}.takeover`;
    const taker = await claimFile(takeover, pid);
    if (taker !== undefined) {
      // Another one is taking it over (a few milliseconds): then see who holds it. A taker
      // that never finishes (its pid now another program's) is reported as the holder.
      if (polls >= takeoverPolls) return taker;
      await setTimeout(takeoverPollMs);
      continue;
    }
    try {
      if ((await readFile(path, 'utf8').catch(() => undefined)) === seen) {
        await rm(path, { force: true });
      }
    } finally {
      await rm(takeover, { force: true });
    }
  }
}

const takeoverPollMs = 20;
const takeoverPolls = 100;

/** Creates `path` holding `pid` whole, unless it exists: false then. */
async function linkExclusive(path: string, pid: number): Promise<boolean> {
  const own = `${path}.${pid}`;
  await writeFile(own, `${pid}\n`, { mode: 0o600 });
  try {
    await link(own, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(own, { force: true });
  }
}

/** Removes the lock and the stack file, each only while it is still `pid`'s. */
async function releaseDevStack(stackFile: string, pid: number): Promise<void> {
  if ((await readStackFile(stackFile))?.pid === pid) await rm(stackFile, { force: true });
  const lock = devStackLockFile(stackFile);
  if ((await pidIn(lock)) === pid) await rm(lock, { force: true });
}

/** The process that holds `lock`, if its file names one. */
export async function pidIn(lock: string): Promise<number | undefined> {
  return pidOfText(await readFile(lock, 'utf8').catch(() => ''));
}

const pidOfText = (text: string): number | undefined =>
  /^\d+\s*$/.test(text) ? Number(text) : undefined;

async function placeOrderOf(stackFile: string, pid: number): Promise<string | undefined> {
  const file = await readStackFile(stackFile);
  const url = file?.pid === pid ? file.functions?.['place-order'] : undefined;
  return typeof url === 'string' ? url : undefined;
}

/** The stack file, read defensively (anyone may have edited it); undefined if unreadable. */
async function readStackFile(
  path: string,
): Promise<{ pid?: unknown; functions?: Record<string, unknown> } | undefined> {
  try {
    const json: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof json === 'object' && json !== null ? json : undefined;
  } catch {
    return undefined;
  }
}

/** The readable companion of the ready line, for whoever watches the terminal. */
export function readyHint(placeOrderUrl: string | undefined): string {
  const intake = placeOrderUrl
    ? [
        `local-stack | ready: place-order at ${placeOrderUrl}`,
        `local-stack | try: \`pnpm demo\` (a mix of orders), \`curl ${placeOrderUrl}/products\`,`,
        'local-stack |   or an order by hand with a token from `pnpm --silent run token cust-1`;',
        'local-stack |   then `pnpm orders show <orderId>`, `pnpm sagas list`, `pnpm dlq list`',
      ]
    : ['local-stack | ready (place-order is not built: `pnpm build`)'];
  return [...intake, 'local-stack | Ctrl-C stops everything'].join('\n');
}

/** What a second `pnpm dev` says before it exits. */
export function alreadyRunning(running: RunningDevStack): string {
  const where = running.placeOrderUrl
    ? `place-order at ${running.placeOrderUrl}, ready line in ${running.stackFile}`
    : `still starting; its ready line goes to ${running.stackFile}`;
  return (
    `local-stack | pnpm dev already runs in this checkout (pid ${running.pid}; ${where}). ` +
    'Use that one, or stop it first (Ctrl-C in its terminal). If no pnpm dev runs ' +
    `(process ${running.pid} is another program), delete ${devStackLockFile(running.stackFile)}.`
  );
}
