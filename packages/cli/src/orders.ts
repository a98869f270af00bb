import {
  type AuditableWarehouse,
  describeWarehouse,
  openWarehouse,
  warehouseConfigSchema,
} from '@orders/analytics';
import { topics as declaredTopics } from '@orders/events';
import { orderSagaType } from '@orders/ordering';
import { messageOf, UsageError } from '@orders/platform';
import { ConfigError, parseConfig } from '@orders/runtime';
import { runCommand } from './command-line';
import type { DeadLetter } from './dead-letter';
import { createPubSubDeadLetterQueue } from './dead-letter-queue';
import { type OrdersCommand, ordersUsage, parseOrdersArgs } from './orders-args';
import {
  formatOrderJourney,
  isDeadLetterOf,
  type OrderJourney,
  orderJourneyJson,
  type Part,
  whereLogsAre,
} from './orders-format';
import { findOrderRecords, type OrderRecords } from './orders-journey';
import { onStackDatabase } from './stack-database';
import { cliConfig, describePubSub, type StackLocation } from './stack-location';

/**
 * `pnpm orders show <orderId>`: one order's whole journey in one view, from the database at
 * DATABASE_URL or of the running dev stack, its dead letters from that stack's Pub/Sub, its
 * events from the warehouse. Results go to stdout, diagnostics to stderr. Exit codes: 0
 * shown, 1 no such order or the database failed, 2 usage.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const stderr = (text: string) => process.stderr.write(`${text}\n`);
  let command: OrdersCommand;
  let config: ReturnType<typeof cliConfig>;
  let warehouseConfig: ReturnType<typeof warehouseConfigSchema.parse>;
  try {
    command = parseOrdersArgs(argv);
    config = cliConfig(env);
    warehouseConfig = parseConfig(warehouseConfigSchema, env);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    stderr(`orders: ${error.message}\n\n${ordersUsage}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${ordersUsage}\n`);
    return 0;
  }

  const ran = await onStackDatabase('orders', config, stderr, async (db, stack) => ({
    ...stack,
    records: await findOrderRecords(db, { orderId: command.orderId, sagaType: orderSagaType }),
  }));
  if (!ran) return 1;
  const { location, where, records } = ran.result;
  if (!records) {
    stderr(`orders: no order ${command.orderId} in ${where}`);
    return 1;
  }

  const projectId = location.pubsub?.projectId ?? 'orders-local';
  const warehouse = openWarehouse({ ...warehouseConfig, GOOGLE_CLOUD_PROJECT: projectId });
  const [analytics, deadLetters] = await Promise.all([
    eventsOf(
      warehouse,
      describeWarehouse({ ...warehouseConfig, GOOGLE_CLOUD_PROJECT: projectId }),
      records,
    ),
    deadLettersOf(location.pubsub, records),
  ]).finally(() => warehouse.close());
  const journey: OrderJourney = {
    ...records,
    analytics,
    deadLetters,
    logs: whereLogsAre(records.order.correlationId, location.devStackFile),
  };
  process.stdout.write(
    `${command.json ? JSON.stringify(orderJourneyJson(journey)) : formatOrderJourney(journey)}\n`,
  );
  return 0;
}

/** The order's events as the warehouse holds them (its dedup view, with the copies loaded). */
async function eventsOf(warehouse: AuditableWarehouse, from: string, { order }: OrderRecords) {
  try {
    return { from, rows: await warehouse.auditEvents({ orderIds: [order.orderId] }) };
  } catch (error) {
    return { from, unavailable: messageOf(error) };
  }
}

/** The order's messages on every DLQ (listing consumes nothing). */
async function deadLettersOf(
  pubsub: StackLocation['pubsub'],
  { order }: OrderRecords,
): Promise<Part<DeadLetter>> {
  if (!pubsub) {
    return {
      from: 'no Pub/Sub',
      unavailable: 'PUBSUB_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT are not set',
    };
  }
  const from = describePubSub(pubsub);
  const queue = createPubSubDeadLetterQueue({ ...pubsub, topics: Object.keys(declaredTopics) });
  try {
    const letters = await queue.list();
    return { from, rows: letters.filter((letter) => isDeadLetterOf(letter, order)) };
  } catch (error) {
    return { from, unavailable: messageOf(error) };
  } finally {
    await queue.close();
  }
}

runCommand('orders', main);
