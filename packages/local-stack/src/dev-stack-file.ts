import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LocalStack } from './local-stack';

/** The customer of the token on the ready line (`pnpm run token <customerId>` makes others). */
const developmentCustomer = 'cust-dev';

/**
 * The ready line of `pnpm dev` for `stack`, and writes it to `path` (where `pnpm demo`, `pnpm
 * dlq`, `pnpm sagas` and `pnpm run token` find the running stack). The file also holds the
 * development issuer's signing key (and the URL, the database password): it is created
 * afresh readable by its owner only (an older file's wider mode never holds them); the
 * ready line does not carry the key.
 */
export async function writeDevStackFile(stack: LocalStack, path: string): Promise<string> {
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
  const file = auth ? { ...ready, auth: { ...auth, signingKey: stack.auth!.signingKey } } : ready;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await rm(path, { force: true });
  await writeFile(path, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: 'wx' });
  return JSON.stringify(ready);
}
