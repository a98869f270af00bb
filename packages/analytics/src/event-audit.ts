import { normalizeValue } from './normalize-rows';
import type { EventLoadAudit } from './warehouse';

/**
 * Per event id: its rows in the table and in the dedup view. `where` filters both sides
 * (by order id) in the engine's own syntax, or is empty.
 */
export function eventAuditSql(table: string, view: string, where: string): string {
  return `
WITH raw AS (
  SELECT event_id, ANY_VALUE(event_type) AS event_type, ANY_VALUE(order_id) AS order_id,
    COUNT(*) AS raw_rows
  FROM ${table} ${where}
  GROUP BY event_id
), viewed AS (
  SELECT event_id, COUNT(*) AS view_rows FROM ${view} ${where} GROUP BY event_id
)
SELECT r.event_id, r.event_type, r.order_id, r.raw_rows, COALESCE(v.view_rows, 0) AS view_rows
FROM raw r LEFT JOIN viewed v ON v.event_id = r.event_id
ORDER BY r.event_id`;
}

export function toEventLoadAudit(row: Record<string, unknown>): EventLoadAudit {
  const viewRows = normalizeValue(row.view_rows, 'integer', 'view_rows') as number;
  return {
    eventId: String(row.event_id),
    eventType: String(row.event_type),
    orderId: String(row.order_id),
    rawRows: normalizeValue(row.raw_rows, 'integer', 'raw_rows') as number,
    viewRows,
    exactlyOnce: viewRows === 1,
  };
}
