import type { BigQuery } from '@google-cloud/bigquery';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'sql-parser-cst';
import { analyticsQueries } from './analytics-queries';
import { createBigQueryWarehouse } from './bigquery-warehouse';

/**
 * No test here reaches BigQuery, so a syntax error in a BigQuery text would first show in
 * production. Every text the BigQuery warehouse sends is captured from a stand-in client
 * and parsed with a BigQuery-dialect parser. (node-sql-parser's BigQuery grammar parses the
 * queries but not the DDL script: CREATE SCHEMA, a JSON column, column OPTIONS, CREATE VIEW
 * IF NOT EXISTS; sql-parser-cst parses all of them.)
 */
function parseBigQuery(sql: string) {
  // `@name` query parameters, as BigQuery's named parameters (auditEvents uses @orderIds).
  return parse(sql, { dialect: 'bigquery', paramTypes: ['@name'] });
}

/** The statement types of `sql`, or the parser's error. */
function statementsOf(sql: string): string[] | { error: string } {
  try {
    return parseBigQuery(sql)
      .statements.map((statement) => statement.type)
      .filter((type) => type !== 'empty');
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Each text the BigQuery warehouse sends, by what sent it. */
async function sentTexts(): Promise<{ by: string; sql: string }[]> {
  const sent: { by: string; sql: string }[] = [];
  let by = '';
  const client = {
    async query({ query }: { query: string }) {
      sent.push({ by, sql: query });
      return [[]];
    },
  } as unknown as BigQuery;
  const options = {
    client: () => client,
    projectId: 'orders-prod',
    dataset: 'orders',
    table: 'events',
  };
  by = 'ensureSchema without a location';
  await createBigQueryWarehouse(options).ensureSchema();
  const warehouse = createBigQueryWarehouse({ ...options, location: 'EU' });
  by = 'ensureSchema';
  await warehouse.ensureSchema();
  for (const query of analyticsQueries) {
    by = `query ${query.name}`;
    await warehouse.query(query.name);
  }
  by = 'auditEvents';
  await warehouse.auditEvents();
  by = 'auditEvents of orders';
  await warehouse.auditEvents({ orderIds: ['a', 'b'] });
  return sent;
}

describe('the BigQuery SQL', () => {
  it('is sent once per call: the schema script (with and without a location), every analytics query, both audits', async () => {
    expect((await sentTexts()).map((text) => text.by)).toEqual([
      'ensureSchema without a location',
      'ensureSchema',
      ...analyticsQueries.map((query) => `query ${query.name}`),
      'auditEvents',
      'auditEvents of orders',
    ]);
  });

  it('parses as BigQuery, every text of it, each to the statements it is meant to be', async () => {
    const parsed = (await sentTexts()).map(({ by, sql }) => ({
      by,
      statements: statementsOf(sql),
    }));
    const schema = ['create_schema_stmt', 'create_table_stmt', 'create_view_stmt'];
    expect(parsed).toEqual([
      { by: 'ensureSchema without a location', statements: schema },
      { by: 'ensureSchema', statements: schema },
      ...analyticsQueries.map((query) => ({
        by: `query ${query.name}`,
        statements: ['select_stmt'],
      })),
      { by: 'auditEvents', statements: ['select_stmt'] },
      { by: 'auditEvents of orders', statements: ['select_stmt'] },
    ]);
  });

  it('is checked by a parser that refuses what BigQuery refuses', () => {
    // DuckDB's JSON operator and a QUALIFY without its condition are not BigQuery.
    expect(statementsOf("SELECT data->>'$.reason' FROM t")).toEqual({
      error: expect.stringMatching(/^Syntax Error/),
    });
    expect(statementsOf('SELECT a FROM t QUALIFY')).toEqual({
      error: expect.stringMatching(/^Syntax Error/),
    });
    expect(statementsOf('SELECT a FROM t QUALIFY ROW_NUMBER() OVER (ORDER BY a) = 1')).toEqual([
      'select_stmt',
    ]);
  });
});
