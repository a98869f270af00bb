import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pythonReferenceOrderPlaced } from '@orders/events';
import {
  createTopology,
  type ServedFunction,
  serveFunction,
  testProjectId,
} from '@orders/local-stack';
import { createPublisher } from '@orders/pubsub';
import { createDuckDbWarehouse, type Warehouse } from '@orders/warehouse';

/**
 * analytics-loader, served by functions-framework and fed by the emulator's push, given an
 * OrderPlaced exactly as a producer of the Python reference publishes it to topic analytics.
 */
const projectId = testProjectId('analytics-python');
const topic = 'analytics';
let dir: string;
let warehousePath: string;
let served: ServedFunction;
let warehouse: Warehouse;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'analytics-python-'));
  warehousePath = join(dir, 'warehouse.duckdb');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  Object.assign(process.env, {
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    WAREHOUSE: 'duckdb',
    DUCKDB_PATH: warehousePath,
    LEGACY_CURRENCY: 'GBP',
  });
  require('./index');
  served = await serveFunction('loadAnalytics', { projectId, topic });
  await createTopology({
    emulatorHost,
    projectId,
    pushEndpoints: { [topic]: `${served.url}/projects/${projectId}/topics/${topic}` },
  });
  warehouse = createDuckDbWarehouse({ path: warehousePath });
});

afterAll(async () => {
  await warehouse?.close();
  await served?.close();
  await rm(dir, { recursive: true, force: true });
});

const run = promisify(execFile);

/** The rows of an order in the dedup view, read by another DuckDB client (waiting its turn). */
async function warehouseRowsOf(orderId: string) {
  const { stdout } = await run(
    process.execPath,
    [
      '-e',
      `const { DuckDBInstance } = require('@duckdb/node-api');
       const [path, orderId] = process.argv.slice(1);
       const open = () => DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })
         .catch(() => new Promise((resolve) => setTimeout(resolve, 20)).then(open));
       open().then(async (db) => {
         const connection = await db.connect();
         const result = await connection.runAndReadAll(
           'SELECT event_type, order_id, CAST(data AS VARCHAR) AS data FROM events_deduped WHERE order_id = $1',
           [orderId],
         );
         process.stdout.write(JSON.stringify(result.getRowObjectsJson()));
         connection.closeSync();
         db.closeSync();
       });`,
      warehousePath,
      orderId,
    ],
    { cwd: join(__dirname, '..', '..', '..', 'packages', 'warehouse'), timeout: 20_000 },
  );
  return (JSON.parse(stdout) as { event_type: string; order_id: string; data: string }[]).map(
    (row) => ({ ...row, data: JSON.parse(row.data) as unknown }),
  );
}

describe('an OrderPlaced from the Python reference producer', () => {
  it('is loaded as OrderPlaced v2, in LEGACY_CURRENCY, its float total rounded to minor units', async () => {
    const orderId = randomUUID();
    const customerId = randomUUID();
    const message = pythonReferenceOrderPlaced({
      event_id: randomUUID(),
      occurred_at: new Date(),
      correlation_id: null,
      order_id: orderId,
      customer_id: customerId,
      total_amount: 10.2 * 3, // 30.599999999999998
    });
    // As its producer publishes: the bytes and two attributes, no ordering key.
    await createPublisher({
      projectId,
      emulatorHost: process.env.PUBSUB_EMULATOR_HOST!,
    }).publish(topic, message);

    const deadline = Date.now() + 20_000;
    let audit = await warehouse.auditEvents({ orderIds: [orderId] });
    while (audit.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      audit = await warehouse.auditEvents({ orderIds: [orderId] });
    }
    expect(audit).toEqual([expect.objectContaining({ eventType: 'OrderPlaced', orderId })]);

    expect(await warehouseRowsOf(orderId)).toEqual([
      {
        event_type: 'OrderPlaced',
        order_id: orderId,
        data: { orderId, customerId, currency: 'GBP', totalMinor: 3060 },
      },
    ]);
    // Placed, and never final: this system does not run its saga (see process-order).
    const funnel = await warehouse.query('funnel');
    expect(funnel).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stage: 'placed', orders: 1 }),
        expect.objectContaining({ stage: 'pending', orders: 1 }),
      ]),
    );
  });
});
