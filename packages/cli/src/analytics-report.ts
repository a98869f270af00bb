import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AnalyticsQueryName,
  type AuditableWarehouse,
  analyticsQueries,
} from '@orders/analytics';
import { textTable } from '@orders/platform';

const finalEventTypes = new Set(['OrderConfirmed', 'OrderCancelled']);
const reportedQueries: AnalyticsQueryName[] = ['funnel', 'latency'];

export interface AnalyticsReport {
  /** Orders whose final event the warehouse did not hold yet when the wait ended. */
  notLoaded: number;
  text: string;
}

/**
 * The funnel and latency queries of the warehouse, once it holds the final event of each of
 * `orderIds` (the analytics loader runs behind the saga) or `waitMs` has passed.
 */
export async function analyticsReport({
  warehouse,
  orderIds,
  waitMs,
  pollIntervalMs = 500,
}: {
  warehouse: AuditableWarehouse;
  /** Orders of the run that ended CONFIRMED or CANCELLED. */
  orderIds: readonly string[];
  waitMs: number;
  pollIntervalMs?: number;
}): Promise<AnalyticsReport> {
  const deadline = Date.now() + waitMs;
  let notLoaded = orderIds.length;
  while (orderIds.length > 0) {
    const audit = await warehouse.auditEvents({ orderIds });
    const loaded = new Set(
      audit.filter((row) => finalEventTypes.has(row.eventType)).map((row) => row.orderId),
    );
    notLoaded = orderIds.filter((id) => !loaded.has(id)).length;
    if (notLoaded === 0 || Date.now() >= deadline) break;
    await sleep(pollIntervalMs);
  }

  const sections: string[] = [];
  for (const name of reportedQueries) {
    const query = analyticsQueries.find((candidate) => candidate.name === name)!;
    const rows = (await warehouse.query(name)) as unknown as Record<string, unknown>[];
    const table = textTable(
      query.columns.map((column) => column.label),
      rows.map((row) => query.columns.map((column) => row[column.key])),
      {
        rightAligned: query.columns.flatMap((column, index) =>
          column.kind === 'text' ? [] : [index],
        ),
      },
    );
    sections.push(`${name}: ${query.description}\n${table}`);
  }
  return { notLoaded, text: sections.join('\n\n') };
}
