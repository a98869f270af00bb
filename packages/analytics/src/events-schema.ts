/**
 * The events table and its dedup view, for both engines. Columns in table order; the
 * DuckDB table has the same columns and types (TIMESTAMP holds UTC there too).
 */
export const eventColumns = [
  {
    name: 'event_id',
    bigquery: 'STRING NOT NULL',
    duckdb: 'VARCHAR NOT NULL',
    about: 'envelope id, the idempotency key',
  },
  {
    name: 'event_type',
    bigquery: 'STRING NOT NULL',
    duckdb: 'VARCHAR NOT NULL',
    about: 'e.g. OrderPlaced',
  },
  {
    name: 'event_version',
    bigquery: 'INT64 NOT NULL',
    duckdb: 'INTEGER NOT NULL',
    about: 'schema version of data (the latest: events are upcast before loading)',
  },
  {
    name: 'source',
    bigquery: 'STRING NOT NULL',
    duckdb: 'VARCHAR NOT NULL',
    about: 'the function that produced the event',
  },
  {
    name: 'occurred_at',
    bigquery: 'TIMESTAMP NOT NULL',
    duckdb: 'TIMESTAMP NOT NULL',
    about: 'when it happened, UTC',
  },
  {
    name: 'event_date',
    bigquery: 'DATE NOT NULL',
    duckdb: 'DATE NOT NULL',
    about: 'UTC day of occurred_at; the partition',
  },
  {
    name: 'order_id',
    bigquery: 'STRING NOT NULL',
    duckdb: 'VARCHAR NOT NULL',
    about: 'the envelope subject',
  },
  {
    name: 'correlation_id',
    bigquery: 'STRING NOT NULL',
    duckdb: 'VARCHAR NOT NULL',
    about: 'one per order, from intake to analytics',
  },
  {
    name: 'causation_id',
    bigquery: 'STRING',
    duckdb: 'VARCHAR',
    about: 'id of the event that caused this one',
  },
  {
    name: 'data',
    bigquery: 'JSON NOT NULL',
    duckdb: 'JSON NOT NULL',
    about: 'the event data at its latest version',
  },
  {
    name: 'loaded_at',
    bigquery: 'TIMESTAMP NOT NULL',
    duckdb: 'TIMESTAMP NOT NULL',
    about: 'when this copy was loaded, UTC',
  },
] as const;

/** The dedup view's name for a table: `events` -> `events_deduped`. */
export function dedupViewName(table: string): string {
  return `${table}_deduped`;
}

/**
 * The dedup view keeps the first loaded copy of each event id. It partitions by
 * event_date too (the same for every copy of an event) so that BigQuery can push a filter
 * on event_date below the window and prune partitions.
 */
function dedupSelect(tableRef: string, where: string): string {
  return `SELECT * FROM ${tableRef} ${where}
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_date, event_id ORDER BY loaded_at) = 1`;
}

export interface BigQueryTableName {
  projectId: string;
  dataset: string;
  table: string;
  /** Where a missing dataset is created; the project's default when absent. */
  location?: string | undefined;
}

/**
 * One BigQuery script that creates the dataset, the table (partitioned by event_date,
 * clustered by event_type) and the dedup view when missing. Idempotent.
 */
export function bigQuerySchemaScript({
  projectId,
  dataset,
  table,
  location,
}: BigQueryTableName): string {
  const datasetRef = `\`${projectId}.${dataset}\``;
  const tableRef = `\`${projectId}.${dataset}.${table}\``;
  const viewRef = `\`${projectId}.${dataset}.${dedupViewName(table)}\``;
  const columns = eventColumns
    .map((c) => `  ${c.name} ${c.bigquery} OPTIONS (description = ${sqlString(c.about)})`)
    .join(',\n');
  return `CREATE SCHEMA IF NOT EXISTS ${datasetRef}${location ? ` OPTIONS (location = ${sqlString(location)})` : ''};
CREATE TABLE IF NOT EXISTS ${tableRef} (
${columns}
)
PARTITION BY event_date
CLUSTER BY event_type
OPTIONS (description = ${sqlString(`Every delivered copy of every domain event; query ${dedupViewName(table)} for one row per event id.`)});
CREATE VIEW IF NOT EXISTS ${viewRef}
OPTIONS (description = ${sqlString(`${table}, first loaded copy of each event id.`)})
AS ${dedupSelect(tableRef, 'WHERE TRUE')};
`;
}

/** The DuckDB statements that create the table and the dedup view when missing. */
export function duckDbSchemaStatements(table = 'events'): string[] {
  const columns = eventColumns.map((c) => `  ${c.name} ${c.duckdb}`).join(',\n');
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (\n${columns}\n)`,
    `CREATE VIEW IF NOT EXISTS ${dedupViewName(table)} AS ${dedupSelect(table, '')}`,
  ];
}

function sqlString(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
