import { UnknownQueryError } from './warehouse-errors';

/**
 * The named analytics queries, each written for BigQuery and for DuckDB with the same
 * result shape, always over the dedup view (one row per event id). Orders are counted
 * once each: when an order has more than one final event (it should not), the first by
 * occurred_at decides.
 */

export interface DailyRevenueRow {
  /** UTC day of the OrderConfirmed event, `YYYY-MM-DD`. */
  day: string;
  currency: string;
  confirmedOrders: number;
  /** Sum of the confirmed orders' totals, in minor units of `currency`. */
  revenueMinor: number;
}

export interface FunnelRow {
  stage: 'placed' | 'confirmed' | 'cancelled' | 'pending';
  /** The cancellation reason; null on the other stages. */
  reason: string | null;
  orders: number;
}

export interface DeclineRateRow {
  /** A PaymentFailed reason, or `all declines`: every reason but `voided` (an order gave up). */
  reason: string;
  /** Payments (distinct payment ids) that failed for this reason. */
  failures: number;
  /** Payments requested. */
  requests: number;
  /** failures / requests; null when nothing was requested. */
  rate: number | null;
}

export interface LatencyRow {
  outcome: 'all' | 'confirmed' | 'cancelled';
  /** Orders with both their OrderPlaced and their final event loaded. */
  orders: number;
  /** Nearest-rank percentiles of OrderPlaced -> final event, in ms; null without orders. */
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

export interface AnalyticsRows {
  'daily-revenue': DailyRevenueRow;
  funnel: FunnelRow;
  'decline-rate': DeclineRateRow;
  latency: LatencyRow;
}

export type AnalyticsQueryName = keyof AnalyticsRows;

/** `ratio` is a fraction (0.25), shown as a percentage. */
export type ColumnKind = 'text' | 'integer' | 'ratio';

export interface AnalyticsColumn {
  key: string;
  label: string;
  kind: ColumnKind;
}

export interface AnalyticsQuery {
  name: AnalyticsQueryName;
  description: string;
  columns: readonly AnalyticsColumn[];
  /** The SQL for BigQuery; `view` is the dedup view's quoted, fully qualified name. */
  bigquery(view: string): string;
  /** The SQL for DuckDB; `view` is the dedup view's name. */
  duckdb(view: string): string;
}

const dailyRevenue: AnalyticsQuery = {
  name: 'daily-revenue',
  description:
    'Confirmed orders and revenue (minor units) per UTC day and currency, from OrderConfirmed',
  columns: [
    { key: 'day', label: 'day (UTC)', kind: 'text' },
    { key: 'currency', label: 'currency', kind: 'text' },
    { key: 'confirmedOrders', label: 'confirmed orders', kind: 'integer' },
    { key: 'revenueMinor', label: 'revenue (minor units)', kind: 'integer' },
  ],
  bigquery: (view) => `
WITH confirmed AS (
  SELECT event_date, JSON_VALUE(data, '$.currency') AS currency,
    CAST(JSON_VALUE(data, '$.totalMinor') AS INT64) AS total_minor
  FROM ${view}
  WHERE event_type = 'OrderConfirmed'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
)
SELECT FORMAT_DATE('%Y-%m-%d', event_date) AS day, currency,
  COUNT(*) AS confirmedOrders, SUM(total_minor) AS revenueMinor
FROM confirmed
GROUP BY day, currency
ORDER BY day, currency`,
  duckdb: (view) => `
WITH confirmed AS (
  SELECT event_date, data->>'$.currency' AS currency,
    CAST(data->>'$.totalMinor' AS BIGINT) AS total_minor
  FROM ${view}
  WHERE event_type = 'OrderConfirmed'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
)
SELECT strftime(event_date, '%Y-%m-%d') AS day, currency,
  COUNT(*) AS confirmedOrders, SUM(total_minor) AS revenueMinor
FROM confirmed
GROUP BY day, currency
ORDER BY day, currency`,
};

const funnel: AnalyticsQuery = {
  name: 'funnel',
  description:
    'Orders placed, confirmed, cancelled by reason, and still pending (placed, not final)',
  columns: [
    { key: 'stage', label: 'stage', kind: 'text' },
    { key: 'reason', label: 'reason', kind: 'text' },
    { key: 'orders', label: 'orders', kind: 'integer' },
  ],
  bigquery: (view) => `
WITH placed AS (
  SELECT DISTINCT order_id FROM ${view} WHERE event_type = 'OrderPlaced'
), outcomes AS (
  SELECT order_id,
    IF(event_type = 'OrderConfirmed', 'confirmed', 'cancelled') AS stage,
    IF(event_type = 'OrderCancelled', JSON_VALUE(data, '$.reason'), NULL) AS reason
  FROM ${view}
  WHERE event_type IN ('OrderConfirmed', 'OrderCancelled')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
), stages AS (
  SELECT 'placed' AS stage, CAST(NULL AS STRING) AS reason, COUNT(*) AS orders, 1 AS pos FROM placed
  UNION ALL
  SELECT 'confirmed', NULL, COUNT(*), 2 FROM outcomes WHERE stage = 'confirmed'
  UNION ALL
  SELECT 'cancelled', reason, COUNT(*), 3 FROM outcomes WHERE stage = 'cancelled' GROUP BY reason
  UNION ALL
  SELECT 'pending', NULL, COUNT(*), 4
  FROM placed p LEFT JOIN outcomes o ON o.order_id = p.order_id
  WHERE o.order_id IS NULL
)
SELECT stage, reason, orders FROM stages ORDER BY pos, reason`,
  duckdb: (view) => `
WITH placed AS (
  SELECT DISTINCT order_id FROM ${view} WHERE event_type = 'OrderPlaced'
), outcomes AS (
  SELECT order_id,
    CASE WHEN event_type = 'OrderConfirmed' THEN 'confirmed' ELSE 'cancelled' END AS stage,
    CASE WHEN event_type = 'OrderCancelled' THEN data->>'$.reason' END AS reason
  FROM ${view}
  WHERE event_type IN ('OrderConfirmed', 'OrderCancelled')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
), stages AS (
  SELECT 'placed' AS stage, CAST(NULL AS VARCHAR) AS reason, COUNT(*) AS orders, 1 AS pos FROM placed
  UNION ALL
  SELECT 'confirmed', NULL, COUNT(*), 2 FROM outcomes WHERE stage = 'confirmed'
  UNION ALL
  SELECT 'cancelled', reason, COUNT(*), 3 FROM outcomes WHERE stage = 'cancelled' GROUP BY reason
  UNION ALL
  SELECT 'pending', NULL, COUNT(*), 4
  FROM placed p LEFT JOIN outcomes o ON o.order_id = p.order_id
  WHERE o.order_id IS NULL
)
SELECT stage, reason, orders FROM stages ORDER BY pos, reason`,
};

const declineRate: AnalyticsQuery = {
  name: 'decline-rate',
  description:
    'Payment requests, failures by reason, and the decline rate (every failure reason but voided)',
  columns: [
    { key: 'reason', label: 'reason', kind: 'text' },
    { key: 'failures', label: 'failed payments', kind: 'integer' },
    { key: 'requests', label: 'payment requests', kind: 'integer' },
    { key: 'rate', label: 'rate', kind: 'ratio' },
  ],
  bigquery: (view) => `
WITH requested AS (
  SELECT COUNT(DISTINCT JSON_VALUE(data, '$.paymentId')) AS requests
  FROM ${view} WHERE event_type = 'PaymentRequested'
), failures AS (
  SELECT JSON_VALUE(data, '$.reason') AS reason, JSON_VALUE(data, '$.paymentId') AS payment_id
  FROM ${view} WHERE event_type = 'PaymentFailed'
), counted AS (
  SELECT reason, COUNT(DISTINCT payment_id) AS failures, 1 AS pos FROM failures GROUP BY reason
  UNION ALL
  SELECT 'all declines', COUNT(DISTINCT payment_id), 2 FROM failures WHERE reason != 'voided'
)
SELECT reason, failures, requests, IF(requests = 0, NULL, failures / requests) AS rate
FROM counted CROSS JOIN requested
ORDER BY pos, reason`,
  duckdb: (view) => `
WITH requested AS (
  SELECT COUNT(DISTINCT data->>'$.paymentId') AS requests
  FROM ${view} WHERE event_type = 'PaymentRequested'
), failures AS (
  SELECT data->>'$.reason' AS reason, data->>'$.paymentId' AS payment_id
  FROM ${view} WHERE event_type = 'PaymentFailed'
), counted AS (
  SELECT reason, COUNT(DISTINCT payment_id) AS failures, 1 AS pos FROM failures GROUP BY reason
  UNION ALL
  SELECT 'all declines', COUNT(DISTINCT payment_id), 2 FROM failures WHERE reason != 'voided'
)
SELECT reason, failures, requests,
  CASE WHEN requests = 0 THEN NULL ELSE failures / requests END AS rate
FROM counted CROSS JOIN requested
ORDER BY pos, reason`,
};

const latency: AnalyticsQuery = {
  name: 'latency',
  description:
    'OrderPlaced to final state (OrderConfirmed or OrderCancelled): p50 and p95 in ms, overall and by outcome',
  columns: [
    { key: 'outcome', label: 'outcome', kind: 'text' },
    { key: 'orders', label: 'orders', kind: 'integer' },
    { key: 'p50Ms', label: 'p50 (ms)', kind: 'integer' },
    { key: 'p95Ms', label: 'p95 (ms)', kind: 'integer' },
    { key: 'maxMs', label: 'max (ms)', kind: 'integer' },
  ],
  // Nearest-rank percentiles (the value at rank ceil(p * n)), computed the same way in both
  // engines rather than with their different approximate or interpolating functions.
  bigquery: (view) => `
WITH placed AS (
  SELECT order_id, MIN(occurred_at) AS placed_at
  FROM ${view} WHERE event_type = 'OrderPlaced' GROUP BY order_id
), final AS (
  SELECT order_id, occurred_at AS final_at,
    IF(event_type = 'OrderConfirmed', 'confirmed', 'cancelled') AS outcome
  FROM ${view}
  WHERE event_type IN ('OrderConfirmed', 'OrderCancelled')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
), latencies AS (
  SELECT f.outcome, TIMESTAMP_DIFF(f.final_at, p.placed_at, MILLISECOND) AS ms
  FROM placed p JOIN final f ON f.order_id = p.order_id
), ranked AS (
  SELECT outcome, ms,
    ROW_NUMBER() OVER (PARTITION BY outcome ORDER BY ms) AS rn,
    COUNT(*) OVER (PARTITION BY outcome) AS n
  FROM (SELECT outcome, ms FROM latencies UNION ALL SELECT 'all', ms FROM latencies)
), outcomes AS (
  SELECT * FROM UNNEST([
    STRUCT('all' AS outcome, 1 AS pos), STRUCT('confirmed', 2), STRUCT('cancelled', 3)
  ])
)
SELECT o.outcome, COALESCE(MAX(r.n), 0) AS orders,
  MAX(IF(r.rn = CEIL(0.50 * r.n), r.ms, NULL)) AS p50Ms,
  MAX(IF(r.rn = CEIL(0.95 * r.n), r.ms, NULL)) AS p95Ms,
  MAX(r.ms) AS maxMs
FROM outcomes o LEFT JOIN ranked r ON r.outcome = o.outcome
GROUP BY o.outcome, o.pos
ORDER BY o.pos`,
  duckdb: (view) => `
WITH placed AS (
  SELECT order_id, MIN(occurred_at) AS placed_at
  FROM ${view} WHERE event_type = 'OrderPlaced' GROUP BY order_id
), final AS (
  SELECT order_id, occurred_at AS final_at,
    CASE WHEN event_type = 'OrderConfirmed' THEN 'confirmed' ELSE 'cancelled' END AS outcome
  FROM ${view}
  WHERE event_type IN ('OrderConfirmed', 'OrderCancelled')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at, event_id) = 1
), latencies AS (
  SELECT f.outcome, epoch_ms(f.final_at) - epoch_ms(p.placed_at) AS ms
  FROM placed p JOIN final f ON f.order_id = p.order_id
), ranked AS (
  SELECT outcome, ms,
    ROW_NUMBER() OVER (PARTITION BY outcome ORDER BY ms) AS rn,
    COUNT(*) OVER (PARTITION BY outcome) AS n
  FROM (SELECT outcome, ms FROM latencies UNION ALL SELECT 'all', ms FROM latencies)
), outcomes AS (
  SELECT * FROM (VALUES ('all', 1), ('confirmed', 2), ('cancelled', 3)) AS o(outcome, pos)
)
SELECT o.outcome, COALESCE(MAX(r.n), 0) AS orders,
  MAX(CASE WHEN r.rn = CEIL(0.50 * r.n) THEN r.ms END) AS p50Ms,
  MAX(CASE WHEN r.rn = CEIL(0.95 * r.n) THEN r.ms END) AS p95Ms,
  MAX(r.ms) AS maxMs
FROM outcomes o LEFT JOIN ranked r ON r.outcome = o.outcome
GROUP BY o.outcome, o.pos
ORDER BY o.pos`,
};

export const analyticsQueries: readonly AnalyticsQuery[] = [
  dailyRevenue,
  funnel,
  declineRate,
  latency,
];

export function isAnalyticsQueryName(name: string): name is AnalyticsQueryName {
  return analyticsQueries.some((query) => query.name === name);
}

export function analyticsQuery(name: string): AnalyticsQuery {
  const found = analyticsQueries.find((query) => query.name === name);
  if (!found) throw new UnknownQueryError(name);
  return found;
}
