import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { signDevToken } from './dev-issuer';
import { isProcessAlive, testProjectId } from './test-harness';
import { waiterShowing } from './wait-for';

/** Every process below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

describe('pnpm dev (dist/dev.js)', () => {
  it('prints one ready line, serves place-order, and leaves no process behind on Ctrl-C', async () => {
    // Without DATABASE_URL or PUBSUB_EMULATOR_HOST: it starts PostgreSQL and the emulator itself.
    const projectId = testProjectId('dev');
    const devJs = join(__dirname, '..', 'dist', 'dev.js');
    const devEnv = { PATH: process.env.PATH, GOOGLE_CLOUD_PROJECT: projectId, LOG_LEVEL: 'warn' };
    const dev = spawn(process.execPath, [devJs], {
      env: devEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const stderrLines: string[] = [];
    dev.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    dev.stderr.on('data', (chunk) => {
      stderr += chunk;
      stderrLines.push(...String(chunk).split('\n').filter(Boolean));
    });
    const exited = new Promise<number | null>((resolve) => dev.on('exit', resolve));
    const waitFor = waiterShowing(stderrLines, 100);

    await waitFor(
      'the ready line (or dev to exit)',
      async () => stdout.includes('\n') || dev.exitCode !== null,
      60_000,
    );
    expect({ stdout, exitCode: dev.exitCode }).toMatchObject({ exitCode: null });
    const ready = JSON.parse(stdout.split('\n')[0]!);
    expect(ready).toEqual({
      ready: true,
      databaseUrl: expect.stringMatching(/^postgres:\/\/.+@127\.0\.0\.1:\d+\//),
      pubsubEmulatorHost: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      projectId,
      functions: expect.objectContaining({
        'place-order': expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      }),
      auth: {
        issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      },
    });
    // The file the tools read holds the issuer's signing key: its owner's alone.
    const stackFile = join(__dirname, '..', '..', '..', '.local', 'dev-stack.json');
    expect((statSync(stackFile).mode & 0o777).toString(8)).toBe('600');

    // The ready line's token is a development customer's; without one, nothing is placed.
    const order = { currency: 'EUR', items: [{ sku: 'MUG-001', quantity: 1 }] };
    const place = (headers: Record<string, string>) =>
      fetch(`${ready.functions['place-order']}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(order),
      });
    expect((await place({})).status).toBe(401);
    const response = await place({ authorization: `Bearer ${ready.auth.token}` });
    expect(response.status).toBe(202);
    const { orderId } = (await response.json()) as { orderId: string };

    // What `pnpm run token <customerId>` does: sign for any customer with the file's key.
    const { auth } = JSON.parse(readFileSync(stackFile, 'utf8'));
    const token = await signDevToken(auth.signingKey, 'cust-other');
    expect((await place({ authorization: `Bearer ${token}` })).status).toBe(202);
    const othersView = await fetch(`${ready.functions['place-order']}/orders/${orderId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(othersView.status).toBe(404);

    // Beside the ready line, a readable one on stderr: where place-order is, what to try.
    const placeOrderUrl = ready.functions['place-order'];
    expect(stderr).toContain(`local-stack | ready: place-order at ${placeOrderUrl}`);
    expect(stderr).toContain('pnpm --silent run token cust-1');

    // A second pnpm dev in this checkout says where the running one is and exits, touching
    // nothing the first one owns: its stack file, its warehouse (once the order reached it).
    const warehouse = join(stackFile, '..', 'warehouse.duckdb');
    await waitFor('the warehouse file', async () => existsSync(warehouse), 30_000);
    const stackFileBefore = readFileSync(stackFile, 'utf8');
    const warehouseBefore = statSync(warehouse);
    const second = await promisify(execFile)(process.execPath, [devJs], { env: devEnv }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect({ code: second.code, stdout: second.stdout }).toEqual({ code: 1, stdout: '' });
    expect(second.stderr).toBe(
      `local-stack | pnpm dev already runs in this checkout (pid ${dev.pid}; place-order at ` +
        `${placeOrderUrl}, ready line in ${stackFile}). Use that one, or stop it first (Ctrl-C ` +
        `in its terminal). If no pnpm dev runs (process ${dev.pid} is another program), delete ` +
        `${join(stackFile, '..', 'dev.lock')}.\n`,
    );
    expect(readFileSync(stackFile, 'utf8')).toBe(stackFileBefore);
    expect(statSync(warehouse).ino).toBe(warehouseBefore.ino);
    expect(statSync(warehouse).size).toBeGreaterThanOrEqual(warehouseBefore.size);

    // Self-healing: a function process that dies is started again on the same port.
    const commandOf = (pid: number) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    const placeOrderPid = descendants(dev.pid!).find((pid) =>
      /--target=placeOrder/.test(commandOf(pid)),
    )!;
    process.kill(placeOrderPid, 'SIGKILL');
    await waitFor(
      'place-order to be restarted',
      async () => /function place-order restarted/.test(stderr),
      30_000,
    );
    expect(stderr).toMatch(/function place-order was killed by SIGKILL; restarting/);
    expect(stderr).toMatch(/function place-order restarted \(pid \d+\)/);
    const again = await fetch(`${ready.functions['place-order']}/products`);
    expect(again.status).toBe(200);

    const children = descendants(dev.pid!);
    const commands = children.map(commandOf);
    expect(commands).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/\/postgres -D /),
        expect.stringMatching(/^java .*cloud-pubsub-emulator/),
        expect.stringMatching(
          /loopback-function-host\.js .*functions-framework.* --target=placeOrder/,
        ),
      ]),
    );
    dev.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor(
      'every process dev started to be gone',
      async () => !children.some(isProcessAlive),
      10_000,
    );
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('stopping');
    // It removes what it owned, and only that: the next pnpm dev starts without a word.
    expect(existsSync(stackFile)).toBe(false);
    expect(existsSync(join(stackFile, '..', 'dev.lock'))).toBe(false);
  }, 150_000);
});
