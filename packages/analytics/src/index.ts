export { createAnalyticsLoadHandler } from './analytics-load-handler';
export {
  type AnalyticsColumn,
  type AnalyticsQuery,
  type AnalyticsQueryName,
  type AnalyticsRows,
  analyticsQueries,
  analyticsQuery,
  type DailyRevenueRow,
  type DeclineRateRow,
  type FunnelRow,
  isAnalyticsQueryName,
  type LatencyRow,
} from './analytics-queries';
export { type BigQueryWarehouseOptions, createBigQueryWarehouse } from './bigquery-warehouse';
export { createDuckDbWarehouse, type DuckDbWarehouseOptions } from './duckdb-warehouse';
export {
  bigQuerySchemaScript,
  dedupViewName,
  duckDbSchemaStatements,
  eventColumns,
} from './events-schema';
export type {
  AuditableWarehouse,
  AuditFilter,
  EventLoadAudit,
  Warehouse,
  WarehouseAudit,
} from './warehouse';
export {
  defaultDuckDbPath,
  describeWarehouse,
  openWarehouse,
  type WarehouseConfig,
  warehouseConfigSchema,
} from './warehouse-config';
export {
  EventsRejectedError,
  type RejectedEvent,
  UnknownQueryError,
  WarehouseUnavailableError,
} from './warehouse-errors';
