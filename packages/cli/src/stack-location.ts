import { readFile } from 'node:fs/promises';
import {
  type DevSigningKey,
  devStackFile,
  devStackLockFile,
  isProcessAlive,
  pidIn,
  signDevToken,
} from '@orders/local-stack';
import { messageOf } from '@orders/platform';
import { parseConfig } from '@orders/runtime';
import { z } from 'zod';
import type { TokenSource } from './intake-client';

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** What the tools read from the environment; each setting overrides the running stack's. */
const cliConfigSchema = z.object({
  /** `host:port` of the Pub/Sub emulator. */
  PUBSUB_EMULATOR_HOST: optional(z.string().regex(/^[^\s/]+:\d+$/, 'must be host:port')),
  /** The project of the topics; alone (no emulator, no dev stack) it means production. */
  GOOGLE_CLOUD_PROJECT: optional(z.string().min(1)),
  /** The PostgreSQL of `pnpm sagas`; also reused by a stack the demo starts (see @orders/local-stack). */
  DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/ })),
  /** The place-order function, e.g. `http://127.0.0.1:8080`. */
  PLACE_ORDER_URL: optional(z.url({ protocol: /^https?$/ })),
  /** How long ago an order with no saga was placed for `pnpm sagas stalled` to list it (housekeeping's setting). */
  STALLED_ORDER_SECONDS: optional(z.coerce.number().positive()),
  /** Where `pnpm dev` writes its ready line; default `<repo>/.local/dev-stack.json`. */
  DEV_STACK_FILE: optional(z.string().min(1)),
});

export type CliConfig = z.output<typeof cliConfigSchema>;

export function cliConfig(env: Record<string, string | undefined>): CliConfig {
  return parseConfig(cliConfigSchema, env);
}

/** The ready line of `pnpm dev`, as it writes it to `.local/dev-stack.json`. */
const devStackSchema = z.object({
  databaseUrl: z.string().min(1),
  pubsubEmulatorHost: z.string().min(1),
  projectId: z.string().min(1),
  functions: z.record(z.string(), z.string()),
  /** The process of `pnpm dev` that runs the stack (files of older versions lack it). */
  pid: z.number().int().positive().optional(),
  /** The development issuer, with the key that signs its tokens (the file only). */
  auth: z
    .object({
      issuer: z.string().min(1),
      token: z.string().min(1),
      signingKey: z.object({
        issuer: z.string().min(1),
        audience: z.string().min(1),
        privateJwk: z.record(z.string(), z.unknown()),
      }),
    })
    .optional(),
});

export type DevStack = z.output<typeof devStackSchema>;

export interface StackLocation {
  /** Where the Pub/Sub topics are; undefined when nothing says. */
  pubsub: { projectId: string; emulatorHost: string | undefined } | undefined;
  placeOrderUrl: string | undefined;
  /** The order database (`postgres://`); undefined when nothing says. */
  databaseUrl: string | undefined;
  /** The dev stack file that was read, if any. */
  devStackFile: string | undefined;
  /** Tokens for any customer, signed by the running dev stack's issuer; undefined without. */
  tokens: TokenSource | undefined;
}

/** The dev stack file exists but is not what `pnpm dev` writes. */
export class DevStackFileError extends Error {
  override readonly name = 'DevStackFileError';
}

/**
 * The dev stack file names a `pnpm dev` that is not running any more (it crashed, or was
 * killed): every tool says so, the same way, rather than fail to connect to its ports.
 */
class StaleDevStackError extends DevStackFileError {
  constructor(path: string, pid: number) {
    super(
      `${path} is left from a \`pnpm dev\` that is not running any more (pid ${pid}): ` +
        `start \`pnpm dev\` again (it replaces the file), or delete ${path}`,
    );
  }
}

/**
 * The running dev stack, from its file; undefined when none runs (no file, and no `pnpm dev`
 * starting: one that holds the lock beside the file but has not written it yet is an error).
 * @throws DevStackFileError the file is not a ready line, or the stack is still starting;
 *   StaleDevStackError its process is gone
 */
export async function readDevStack(path: string): Promise<DevStack | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const starting = await pidIn(devStackLockFile(path));
    if (starting !== undefined && isProcessAlive(starting)) {
      throw new DevStackFileError(
        `pnpm dev is still starting (pid ${starting}): try again once it prints its ready line`,
      );
    }
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DevStackFileError(`${path} is not JSON: delete it or restart pnpm dev`, {
      cause: error,
    });
  }
  const result = devStackSchema.safeParse(json);
  if (!result.success) {
    throw new DevStackFileError(`${path} is not a pnpm dev ready line: ${result.error.message}`);
  }
  const { pid } = result.data;
  if (pid !== undefined && !isProcessAlive(pid)) throw new StaleDevStackError(path, pid);
  return result.data;
}

/** The dev stack file every tool reads: DEV_STACK_FILE, else `.local/dev-stack.json`. */
export function devStackPath(config: CliConfig): string {
  return devStackFile(config);
}

/**
 * Where the stack is: the running dev stack's file, each setting overridden by the
 * environment. Without an emulator (from either), GOOGLE_CLOUD_PROJECT names a production
 * project; with one and no project, the project is the local default `orders-local`.
 */
export function locateStack(
  config: CliConfig,
  devStack: DevStack | undefined,
  path?: string,
): StackLocation {
  const emulatorHost = config.PUBSUB_EMULATOR_HOST ?? devStack?.pubsubEmulatorHost;
  const projectId =
    config.GOOGLE_CLOUD_PROJECT ??
    devStack?.projectId ??
    (emulatorHost ? 'orders-local' : undefined);
  return {
    pubsub: projectId ? { projectId, emulatorHost } : undefined,
    placeOrderUrl: config.PLACE_ORDER_URL ?? devStack?.functions['place-order'],
    databaseUrl: config.DATABASE_URL ?? devStack?.databaseUrl,
    devStackFile: devStack ? path : undefined,
    tokens: devStack?.auth && devTokens(devStack.auth.signingKey as DevSigningKey),
  };
}

/** Tokens of the development issuer, one per customer, made once each (valid an hour). */
export function devTokens(key: DevSigningKey): TokenSource {
  const made = new Map<string, Promise<string>>();
  return (customerId) => {
    let token = made.get(customerId);
    if (!token) {
      token = signDevToken(key, customerId);
      made.set(customerId, token);
    }
    return token;
  };
}

/**
 * What a tool reports when reading `where` (the database of `location`) failed. When its URL
 * came from the dev stack file and nothing answers there, the file may be left from a `pnpm
 * dev` that stopped (an older one's file names no pid; a pid may be another program's now):
 * the file and the way out are named, as for a crashed one. Otherwise, what failed.
 */
export function readFailure(
  error: unknown,
  where: string,
  location: StackLocation,
  config: CliConfig,
): Error {
  const code = unreachableCode(error);
  if (code && location.devStackFile && !config.DATABASE_URL) {
    const path = location.devStackFile;
    return new DevStackFileError(
      `${where} named by ${path} does not answer (${code}): if \`pnpm dev\` is not running ` +
        `any more, start it again (it replaces the file), or delete ${path}`,
      { cause: error },
    );
  }
  return new Error(`reading ${where}: ${messageOf(error)}`, { cause: error });
}

const unreachableCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/** The code of a connection nothing answered, in `error` or its parts (an AggregateError). */
function unreachableCode(error: unknown): string | undefined {
  const { code, errors } = (error ?? {}) as { code?: unknown; errors?: unknown };
  if (typeof code === 'string' && unreachableCodes.has(code)) return code;
  return Array.isArray(errors) ? errors.map(unreachableCode).find(Boolean) : undefined;
}

/** Where the database is, for messages: its URL without the password. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return `the database at ${parsed.toString()}`;
  } catch {
    return 'the database at DATABASE_URL';
  }
}

/** Where the Pub/Sub topics are, for messages: `project p on the emulator at h`. */
export function describePubSub({
  projectId,
  emulatorHost,
}: NonNullable<StackLocation['pubsub']>): string {
  return emulatorHost
    ? `project ${projectId} on the emulator at ${emulatorHost}`
    : `project ${projectId} (Google Cloud)`;
}
