import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { insertOutboxRows } from '@orders/messaging/testing';
import { sql } from 'kysely';
import type { OutboxListing, OutboxRowDetail } from './outbox-listing';

/** `pnpm outbox` (the built dist/outbox.js) as an operator runs it, on a real outbox. */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'outbox.js');
/** Each CLI run starts node (2 to 3 s on a busy machine): more than jest's default 60 s. */
const cliTestTimeoutMs = 150_000;
let database: TestDatabase;

async function outbox(args: string[], env: NodeJS.ProcessEnv = { DATABASE_URL: database.url }) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { DEV_STACK_FILE: join(__dirname, 'no-dev-stack.json'), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const orderId = randomUUID();
const event = (type: 'OrderConfirmed' | 'OrderCancelled') =>
  type === 'OrderConfirmed'
    ? createEvent(
        type,
        { orderId, totalMinor: 899, currency: 'EUR' },
        { source: 'process-order', correlationId: orderId },
      )
    : createEvent(
        type,
        { orderId, reason: 'payment_declined' },
        { source: 'process-order', correlationId: orderId },
      );
/** A row sent long ago, one waiting for a refusing route, one set aside (planted: no producer). */
const sent = event('OrderConfirmed');
const waiting = event('OrderConfirmed');
const setAside = event('OrderCancelled');

beforeAll(async () => {
  database = await testDatabase('outbox-cli');
  await insertOutboxRows(database.db, [sent, waiting, setAside]);
  await sql`update outbox set sent_at = now() where id = ${sent.id}::uuid`.execute(database.db);
  await sql`update outbox set created_at = now() - interval '10 minutes', attempts = 4,
      last_error = 'analytics: publish to analytics failed: HTTP 403 PERMISSION_DENIED',
      next_attempt_at = now() + interval '16 seconds'
    where id = ${waiting.id}::uuid`.execute(database.db);
  await sql`update outbox set created_at = now() - interval '5 minutes', producer = null,
      set_aside_at = now(), set_aside_reason = 'no producer recorded'
    where id = ${setAside.id}::uuid`.execute(database.db);
});

afterAll(async () => {
  await database?.close();
});

describe('pnpm outbox', () => {
  it(
    'lists what the relay still owes, oldest first, with its age, state and last error',
    async () => {
      const table = await outbox(['list']);
      expect(table.code).toBe(0);
      expect(table.stderr).toContain('outbox: the database at');
      const [health, blank, header, ...rows] = table.stdout.trimEnd().split('\n');
      expect(health).toMatch(
        /^1 unsent, the oldest 10m \d+s old \(1 waiting for a route that refused\); 1 set aside \(never published: pnpm outbox list --set-aside\)$/,
      );
      expect(blank).toBe('');
      expect(header).toMatch(
        /^EVENT ID +TYPE +ORDER ID +PRODUCER +AGE +STATE +OWED TO +ATTEMPTS +LAST ERROR$/,
      );
      expect(rows).toEqual([expect.any(String), expect.any(String), '2 rows']);
      const cells = rows.slice(0, 2).map((line) => line.split(/ {2,}/));
      expect(cells[0]).toEqual([
        waiting.id,
        'OrderConfirmed',
        orderId,
        'process-order',
        expect.stringMatching(/^10m \d+s$/),
        expect.stringMatching(/^waiting until \S+Z$/),
        'analytics',
        '4',
        'analytics: publish to analytics failed: HTTP 403 PERMISSION_DENIED',
      ]);
      expect(cells[1]).toEqual([
        setAside.id,
        'OrderCancelled',
        orderId,
        '-',
        expect.stringMatching(/^5m \d+s$/),
        'set aside',
        'analytics',
        '0',
        'no producer recorded',
      ]);

      const json = JSON.parse((await outbox(['list', '--set-aside', '--json'])).stdout);
      expect(json).toEqual([
        expect.objectContaining({
          eventId: setAside.id,
          state: 'set aside',
          producer: null,
          setAsideReason: 'no producer recorded',
        }),
      ]);
      expect((json as OutboxListing[])[0]!.owedTopics).toEqual(['analytics']);
    },
    cliTestTimeoutMs,
  );

  it(
    'shows one row with its bookkeeping and its event, sent or not',
    async () => {
      const shown = await outbox(['show', waiting.id]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^state +waiting$/m);
      expect(shown.stdout).toMatch(/^attempts +4$/m);
      expect(shown.stdout).toMatch(/^owed to +analytics$/m);
      expect(shown.stdout).toContain(`"id": "${waiting.id}"`);
      const detail = JSON.parse(
        (await outbox(['show', '--json', sent.id])).stdout,
      ) as OutboxRowDetail;
      expect(detail).toMatchObject({ eventId: sent.id, state: 'sent', owedTopics: [] });
      expect(detail.event).toEqual(JSON.parse(JSON.stringify(sent)));
    },
    cliTestTimeoutMs,
  );

  it(
    "retries: a waiting row becomes due; a set-aside one is released only when it passes the relay's rule",
    async () => {
      // A dry run says what a retry would do, and changes nothing.
      const before = await database.db.selectFrom('outbox').selectAll().orderBy('id').execute();
      const wouldBeDue = await outbox(['retry', '--dry-run', waiting.id]);
      expect(wouldBeDue).toMatchObject({
        code: 0,
        stdout: `would make outbox row ${waiting.id} due: it would go out at the next housekeeping tick\n`,
      });
      const wouldStay = await outbox(['retry', setAside.id, '--dry-run']);
      expect(wouldStay).toMatchObject({ code: 1, stdout: '' });
      expect(wouldStay.stderr).toContain(
        `outbox row ${setAside.id} stays set aside: it still fails the relay's rule (no producer recorded)`,
      );
      expect(await database.db.selectFrom('outbox').selectAll().orderBy('id').execute()).toEqual(
        before,
      );

      const due = await outbox(['retry', waiting.id]);
      expect(due).toMatchObject({
        code: 0,
        stdout: `outbox row ${waiting.id} is due: it goes out at the next housekeeping tick\n`,
      });

      const refused = await outbox(['retry', setAside.id]);
      expect(refused).toMatchObject({ code: 1, stdout: '' });
      expect(refused.stderr).toContain(
        `outbox row ${setAside.id} stays set aside: it still fails the relay's rule (no producer recorded)`,
      );
      // The operator checked it is genuine and recorded its producer.
      await sql`update outbox set producer = 'process-order' where id = ${setAside.id}::uuid`.execute(
        database.db,
      );
      const wouldRelease = await outbox(['retry', '--dry-run', setAside.id]);
      expect(wouldRelease).toMatchObject({
        code: 0,
        stdout: `would release outbox row ${setAside.id} (set aside for: no producer recorded): it passes the relay's rule now, and would go out at the next housekeeping tick\n`,
      });
      expect(
        await database.db
          .selectFrom('outbox')
          .select('set_aside_reason')
          .where('id', '=', setAside.id)
          .executeTakeFirstOrThrow(),
      ).toEqual({ set_aside_reason: 'no producer recorded' });
      const released = await outbox(['retry', setAside.id]);
      expect(released).toMatchObject({
        code: 0,
        stdout: `released outbox row ${setAside.id} (set aside for: no producer recorded): it passes the relay's rule now, and goes out at the next housekeeping tick\n`,
      });
      const rows = await database.db
        .selectFrom('outbox')
        .select(['id', 'next_attempt_at', 'set_aside_at'])
        .where('id', 'in', [waiting.id, setAside.id])
        .execute();
      expect(rows.every((row) => row.next_attempt_at === null && row.set_aside_at === null)).toBe(
        true,
      );
      expect((await outbox(['list'])).stdout).toMatch(/^2 unsent, the oldest 10m \d+s old\n/);

      const [wasSent, absent, usage, nowhere] = await Promise.all([
        outbox(['retry', sent.id]),
        outbox(['show', randomUUID()]),
        outbox(['retry', 'row-1']),
        outbox(['list'], {}),
      ]);
      expect(wasSent).toMatchObject({ code: 1, stdout: '' });
      expect(wasSent.stderr).toContain('is sent: every route took it, nothing to retry');
      expect(absent).toMatchObject({ code: 1, stderr: expect.stringContaining('no outbox row') });
      expect(usage).toMatchObject({ code: 2, stdout: '' });
      expect(usage.stderr).toContain('not an event id (a uuid): row-1');
      expect(usage.stderr).toContain('usage: pnpm outbox');
      expect(nowhere).toMatchObject({ code: 1, stdout: '' });
      expect(nowhere.stderr).toMatch(/no database to read: .*no-dev-stack\.json does not exist/);
    },
    cliTestTimeoutMs,
  );
});
