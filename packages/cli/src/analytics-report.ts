import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AnalyticsQueryName,
  type AuditableWarehouse,
  analyticsQueries,
  WarehouseUnavailableError,
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
 * `orderIds` (the analytics loader runs behind the saga) or `waitMs` has passed. A warehouse
 * another process holds too long (the loader at work on a DuckDB file) is asked again until
 * then: it is busy, not broken.
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
  const whenAvailable = async <T>(read: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof WarehouseUnavailableError) || Date.now() >= deadline) throw error;
      }
      await sleep(pollIntervalMs);
    }
  };
  let notLoaded = orderIds.length;
  while (orderIds.length > 0) {
    const audit = await whenAvailable(() => warehouse.auditEvents({ orderIds }));
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
    const rows = (await whenAvailable(() => warehouse.query(name))) as unknown as Record<
      string,
      unknown
    >[];
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
