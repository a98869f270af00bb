import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as functions from '@google-cloud/functions-framework';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, encodeEvent } from '@orders/events';
import {
  createTopology,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import {
  createOutbox,
  createPublisher,
  createPubSubBus,
  createPubSubDeadLetters,
} from '@orders/messaging';
import { createLogger } from '@orders/platform';
import { createConsumer, UnprocessableEventError } from '@orders/runtime';
import {
  extractField,
  type LogMetric,
  logEntryOf,
  logMetrics,
  matchesLogFilter,
} from './log-metrics';
import { loadTerraform } from './terraform-config';

/**
 * The outcome lines a real consumer writes, through functions-framework's server, at
 * LOG_LEVEL=error, are what infra/monitoring.tf's consumer_outcomes metric counts: each
 * delivery one line, counted once, with the consumer and the outcome as its labels.
 */
const projectId = testProjectId('outcome-metric');
const name = 'outcome-consumer';
const root = join(__dirname, '..', '..', '..');
/** Every line the consumer wrote, parsed. */
const written: Record<string, unknown>[] = [];
let database: TestDatabase;
let served: ServedFunction;
let metrics: LogMetric[];

beforeAll(async () => {
  const variables = JSON.parse(
    await readFile(join(root, 'infra', 'topology.auto.tfvars.json'), 'utf8'),
  );
  metrics = logMetrics(await loadTerraform(join(root, 'infra')), variables);
  database = await testDatabase('outcome_metric');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  functions.cloudEvent(
    'outcomeConsumer',
    createConsumer({
      name,
      topic: 'order-saga',
      projectId,
      outbox: createOutbox(
        database.db,
        createPubSubBus(createPublisher({ projectId, emulatorHost })),
      ),
      deadLetters: createPubSubDeadLetters(createPublisher({ projectId, emulatorHost })),
      // What createFunctionResources makes, at the quietest level an operator may set.
      logger: createLogger({
        level: 'error',
        fields: { service: name },
        write: (line) => written.push(JSON.parse(line)),
      }),
      legacyCurrency: 'USD',
      // A store's inbox claim; a flaky customer fails as a lock timeout does (retried), an
      // impossible one can never be handled (dead-lettered).
      handle: async (event) => {
        if (event.type !== 'OrderPlaced') throw new Error(`unexpected ${event.type}`);
        if (event.data.customerId === 'flaky') {
          throw Object.assign(new Error('lock timeout'), { code: '55P03' });
        }
        if (event.data.customerId === 'impossible') {
          throw new UnprocessableEventError('no such transition');
        }
        const claimed = await database.db
          .insertInto('processed_events')
          .values({ consumer: name, event_id: event.id })
          .onConflict((conflict) => conflict.doNothing())
          .returning('event_id')
          .execute();
        return claimed.length === 0 ? 'duplicate' : { emitted: [] };
      },
    }),
  );
  served = await serveFunction('outcomeConsumer', { projectId, topic: 'order-saga' });
});

afterAll(async () => {
  await served?.close();
  await database?.close();
});

function orderPlaced(customerId: string): DomainEvent<'OrderPlaced'> {
  return createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId,
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    { source: 'test', correlationId: randomUUID() },
  );
}

it('writes one outcome line per delivery, which consumer_outcomes counts by consumer and outcome', async () => {
  const event = orderPlaced('c-1');
  const deliveries = [
    [orderPlaced('flaky'), 500],
    [event, 204],
    [event, 204],
    [orderPlaced('impossible'), 204],
  ] as const;
  for (const [delivered, status] of deliveries) {
    expect((await served.deliver(encodeEvent(delivered))).status).toBe(status);
  }

  const entries = written.map((line) =>
    logEntryOf(line, { type: 'cloud_run_revision', labels: { service_name: name } }),
  );
  expect(entries).toHaveLength(deliveries.length);
  const counted = entries.map((entry) => {
    const counting = metrics.filter((metric) => matchesLogFilter(metric.filter, entry));
    expect(counting.map((metric) => metric.address)).toEqual([
      'google_logging_metric.consumer_outcomes',
    ]);
    const labels = counting[0]!.labelExtractors;
    expect(Object.keys(labels).sort()).toEqual(['consumer', 'outcome']);
    return [
      entry.severity,
      extractField(labels.consumer!, entry),
      extractField(labels.outcome!, entry),
    ];
  });
  expect(counted).toEqual([
    ['WARNING', name, 'retried'],
    ['INFO', name, 'handled'],
    ['INFO', name, 'duplicate'],
    ['WARNING', name, 'dead-lettered'],
  ]);
});
