import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createEvent, type DomainEvent } from '@orders/events';
import { createDuckDbWarehouse } from './duckdb-warehouse';
import { WarehouseUnavailableError } from './warehouse-errors';

const packageDir = join(__dirname, '..');
const builtIndex = join(packageDir, 'dist', 'index.js');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-duckdb-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function orderConfirmed(occurredAt = new Date()): DomainEvent<'OrderConfirmed'> {
  return createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 4448, currency: 'EUR' },
    { source: 'test', correlationId: randomUUID(), causationId: randomUUID(), occurredAt },
  );
}

/** Reads the file directly, as any DuckDB client would (the warehouse must be idle). */
async function sql(path: string, query: string, values: string[] = []) {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const rows = (await connection.runAndReadAll(query, values)).getRowObjectsJson();
    connection.closeSync();
    return rows;
  } finally {
    instance.closeSync();
  }
}

interface Child {
  process: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves when the child has printed `ready`. */
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function node(script: string, args: string[]): Child {
  const child = spawn(process.execPath, ['-e', script, ...args], {
    cwd: packageDir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let ready = () => {};
  const result: Child = {
    process: child,
    stdout: '',
    stderr: '',
    ready: new Promise((resolve) => (ready = resolve)),
    exited: new Promise((resolve) => child.on('exit', resolve)),
  };
  child.stdout!.on('data', (chunk) => {
    result.stdout += chunk;
    if (result.stdout.startsWith('ready\n')) ready();
  });
  child.stderr!.on('data', (chunk) => (result.stderr += chunk));
  child.on('exit', () => ready());
  return result;
}

/** Another process holding the file for writing until it is told to let go. */
async function holdLock(path: string): Promise<{ release(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const { DuckDBInstance } = require('@duckdb/node-api');
       const open = () => DuckDBInstance.create(process.argv[1])
         .catch(() => new Promise((resolve) => setTimeout(resolve, 20)).then(open));
       open().then((db) => {
         process.stdout.write('locked\\n');
         const release = () => { db.closeSync(); process.exit(0); };
         process.stdin.on('data', release).on('end', release);
         // Not a wait: a holder the test never lets go of exits by itself.
         setTimeout(release, 20000);
       });`,
      path,
    ],
    { cwd: packageDir, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => String(chunk).includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    async release() {
      child.stdin!.write('go\n');
      await exited;
    },
  };
}

describe('createDuckDbWarehouse', () => {
  it('creates the table and the dedup view, idempotently, with the documented columns', async () => {
    const path = join(dir, 'schema.duckdb');
    const warehouse = createDuckDbWarehouse({ path });
    await warehouse.ensureSchema();
    await Promise.all([warehouse.ensureSchema(), warehouse.ensureSchema()]);
    await warehouse.close();

    expect(await sql(path, 'DESCRIBE events')).toEqual(
      [
        ['event_id', 'VARCHAR', 'NO'],
        ['event_type', 'VARCHAR', 'NO'],
        ['event_version', 'INTEGER', 'NO'],
        ['source', 'VARCHAR', 'NO'],
        ['occurred_at', 'TIMESTAMP', 'NO'],
        ['event_date', 'DATE', 'NO'],
        ['order_id', 'VARCHAR', 'NO'],
        ['correlation_id', 'VARCHAR', 'NO'],
        ['causation_id', 'VARCHAR', 'YES'],
        ['data', 'JSON', 'NO'],
        ['loaded_at', 'TIMESTAMP', 'NO'],
      ].map(([column_name, column_type, nullable]) =>
        expect.objectContaining({ column_name, column_type, null: nullable }),
      ),
    );
    expect(await sql(path, `SELECT view_name FROM duckdb_views() WHERE NOT internal`)).toEqual([
      { view_name: 'events_deduped' },
    ]);
  });

  it('loads one row per delivered copy with every envelope field; the view keeps the first copy', async () => {
    const path = join(dir, 'rows.duckdb');
    let clock = Date.parse('2026-05-01T00:00:00.000Z');
    const tick = () => {
      clock += 1000;
      return new Date(clock);
    };
    const warehouse = createDuckDbWarehouse({ path, now: tick });
    const event = orderConfirmed(new Date('2026-04-30T23:59:59.999Z'));
    await warehouse.load([event]);
    await warehouse.load([event]);
    await warehouse.close();

    const rows = await sql(
      path,
      `SELECT event_id, event_type, event_version, source, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%g') AS occurred_at,
              CAST(event_date AS VARCHAR) AS event_date, order_id, correlation_id, causation_id,
              data, CAST(loaded_at AS VARCHAR) AS loaded_at
       FROM events ORDER BY loaded_at`,
    );
    const expected = {
      event_id: event.id,
      event_type: 'OrderConfirmed',
      event_version: 1,
      source: 'test',
      occurred_at: '2026-04-30T23:59:59.999',
      event_date: '2026-04-30',
      order_id: event.subject,
      correlation_id: event.correlationId,
      causation_id: event.causationId,
      data: JSON.stringify(event.data),
    };
    expect(rows).toEqual([
      { ...expected, loaded_at: '2026-05-01 00:00:01' },
      { ...expected, loaded_at: '2026-05-01 00:00:02' },
    ]);
    expect(
      await sql(path, 'SELECT CAST(loaded_at AS VARCHAR) AS loaded_at FROM events_deduped'),
    ).toEqual([{ loaded_at: '2026-05-01 00:00:01' }]);
  });

  it('reads a file that does not exist as an empty warehouse, without creating it', async () => {
    const path = join(dir, 'nothing-yet', 'warehouse.duckdb');
    const warehouse = createDuckDbWarehouse({ path });
    expect(await warehouse.query('daily-revenue')).toEqual([]);
    expect(await warehouse.auditEvents()).toEqual([]);
    await warehouse.close();
    expect(existsSync(path)).toBe(false);
  });

  it('audits by order id', async () => {
    const warehouse = createDuckDbWarehouse({ path: join(dir, 'audit.duckdb') });
    const [a, b, c] = [orderConfirmed(), orderConfirmed(), orderConfirmed()];
    await warehouse.load([a!, b!, c!, a!]);
    const audit = await warehouse.auditEvents({ orderIds: [a!.subject, c!.subject] });
    expect(audit.sort((x, y) => x.rawRows - y.rawRows)).toEqual([
      {
        eventId: c!.id,
        eventType: 'OrderConfirmed',
        orderId: c!.subject,
        rawRows: 1,
        viewRows: 1,
        exactlyOnce: true,
      },
      {
        eventId: a!.id,
        eventType: 'OrderConfirmed',
        orderId: a!.subject,
        rawRows: 2,
        viewRows: 1,
        exactlyOnce: true,
      },
    ]);
    expect(await warehouse.auditEvents({ orderIds: [] })).toEqual([]);
    await warehouse.close();
  });

  it('commits concurrent loads together: 60 deliveries, a few opens of the file', async () => {
    let sessions = 0;
    const path = join(dir, 'group-commit.duckdb');
    const warehouse = createDuckDbWarehouse({
      path,
      now: () => {
        sessions += 1;
        return new Date();
      },
    });
    // A second warehouse object on the same file in this process shares its queue.
    const other = createDuckDbWarehouse({ path });
    const events = Array.from({ length: 60 }, () => orderConfirmed());
    await Promise.all(
      events.map((event, i) => (i % 3 ? warehouse.load([event]) : other.load([event]))),
    );
    const audit = await warehouse.auditEvents();
    expect(audit.map((row) => row.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    expect(audit.every((row) => row.rawRows === 1 && row.exactlyOnce)).toBe(true);
    expect(sessions).toBeLessThanOrEqual(3);
    await Promise.all([warehouse.close(), other.close()]);
  });

  it('waits for another process that holds the file, then loads; past lockTimeoutMs it is a transient error', async () => {
    const path = join(dir, 'locked.duckdb');
    const warehouse = createDuckDbWarehouse({ path, lockTimeoutMs: 300 });
    await warehouse.ensureSchema();
    const lock = await holdLock(path);
    const event = orderConfirmed();
    const patient = createDuckDbWarehouse({ path, lockTimeoutMs: 10_000 });
    let loading: Promise<void>;
    try {
      const started = Date.now();
      const failure = await warehouse.load([event]).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WarehouseUnavailableError);
      expect((failure as Error).message).toMatch(/another process has held .*locked\.duckdb/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);

      // Let go only once the patient one has met the lock: its first open was refused.
      const create = DuckDBInstance.create.bind(DuckDBInstance);
      let refused: () => void = () => {};
      const metTheLock = new Promise<void>((resolve) => {
        refused = resolve;
      });
      const opening = jest
        .spyOn(DuckDBInstance, 'create')
        .mockImplementation(async (...args: Parameters<typeof DuckDBInstance.create>) => {
          try {
            return await create(...args);
          } catch (error) {
            if (args[0] === path) refused();
            throw error;
          }
        });
      try {
        loading = patient.load([event]);
        await metTheLock;
      } finally {
        opening.mockRestore();
      }
    } finally {
      await lock.release();
    }
    await loading;
    expect(await patient.auditEvents()).toEqual([expect.objectContaining({ rawRows: 1 })]);
    await Promise.all([warehouse.close(), patient.close()]);
  });

  it('two loader processes, a reader process and this one share the file: every event lands exactly once', async () => {
    if (!existsSync(builtIndex)) {
      throw new Error(`${builtIndex} is missing: build first (pnpm build)`);
    }
    const path = join(dir, 'shared.duckdb');
    const batches = [0, 1, 2].map(() => Array.from({ length: 40 }, () => orderConfirmed()));
    const files = await Promise.all(
      batches.map(async (events, i) => {
        const file = join(dir, `events-${i}.json`);
        await writeFile(file, JSON.stringify(events));
        return file;
      }),
    );
    // Every child says `ready` once loaded, then waits for a line on stdin, so that all
    // start together; each prints its {start, end} and what it saw.
    const waitForGo = `
      const go = new Promise((resolve) => process.stdin.once('data', resolve));
      process.stdout.write('ready\\n');`;
    // A loader process: one delivery per load, 4 at once, as functions-framework under push.
    const loaderScript = `
      const { createDuckDbWarehouse } = require(${JSON.stringify(builtIndex)});
      const events = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
      const warehouse = createDuckDbWarehouse({ path: process.argv[2], lockTimeoutMs: 20000 });
      ${waitForGo}
      go.then(async () => {
        const start = Date.now();
        let next = 0;
        const worker = async () => { while (next < events.length) await warehouse.load([events[next++]]); };
        await Promise.all(Array.from({ length: 4 }, worker));
        await warehouse.close();
        process.stdout.write(JSON.stringify({ start, end: Date.now() }));
        process.exit(0);
      }).catch((error) => { console.error(error); process.exit(1); });`;
    // A reader process: six runs in a row of what `pnpm analytics funnel` does (open the
    // warehouse, query, close).
    const readerScript = `
      const { createDuckDbWarehouse } = require(${JSON.stringify(builtIndex)});
      ${waitForGo}
      go.then(async () => {
        const start = Date.now();
        const seen = [];
        for (let i = 0; i < 6; i++) {
          const warehouse = createDuckDbWarehouse({ path: process.argv[1], lockTimeoutMs: 20000 });
          const rows = await warehouse.query('funnel');
          await warehouse.close();
          seen.push({ code: 0, confirmed: rows.find((r) => r.stage === 'confirmed').orders });
        }
        process.stdout.write(JSON.stringify({ start, end: Date.now(), seen }));
        process.exit(0);
      }).catch((error) => { console.error(error); process.exit(1); });`;
    const children = [
      node(loaderScript, [files[0]!, path]),
      node(loaderScript, [files[1]!, path]),
      node(readerScript, [path]),
    ];
    await Promise.all(children.map((child) => child.ready));
    const local = createDuckDbWarehouse({ path, lockTimeoutMs: 20_000 });
    for (const child of children) child.process.stdin!.write('go\n');
    const start = Date.now();
    await Promise.all(batches[2]!.map((event) => local.load([event])));
    const spans = [{ start, end: Date.now() }];

    for (const child of children) {
      const code = await child.exited;
      expect({ code, stderr: child.stderr }).toEqual({ code: 0, stderr: '' });
      spans.push(JSON.parse(child.stdout.replace('ready\n', '')));
    }
    // All four were at work at the same time, so they took turns with the file.
    expect(Math.max(...spans.map((s) => s.start))).toBeLessThan(
      Math.min(...spans.map((s) => s.end)),
    );
    const { seen } = spans[3] as unknown as { seen: { code: number; confirmed: number }[] };
    expect(seen.map((read) => read.code)).toEqual([0, 0, 0, 0, 0, 0]);
    const counts = seen.map((read) => read.confirmed);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.every((count) => count <= 120)).toBe(true);

    const audit = await local.auditEvents();
    expect(audit.map((row) => row.eventId).sort()).toEqual(
      batches
        .flat()
        .map((event) => event.id)
        .sort(),
    );
    expect(audit.every((row) => row.rawRows === 1 && row.exactlyOnce)).toBe(true);
    await local.close();
  });
});
