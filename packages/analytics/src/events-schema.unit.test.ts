import { describe, expect, it } from '@jest/globals';
import { bigQuerySchemaScript, duckDbSchemaStatements } from './events-schema';

describe('the events table definition', () => {
  it('is day-partitioned by event_date and clustered by event_type in BigQuery, with a dedup view', () => {
    const script = bigQuerySchemaScript({ projectId: 'p', dataset: 'd', table: 'events' });
    expect(script).toContain('CREATE SCHEMA IF NOT EXISTS `p.d`;');
    expect(script).toMatch(/CREATE TABLE IF NOT EXISTS `p\.d\.events` \(\n/);
    expect(script).toMatch(/\)\nPARTITION BY event_date\nCLUSTER BY event_type\n/);
    expect(script).toContain('CREATE VIEW IF NOT EXISTS `p.d.events_deduped`');
    expect(script).toContain(
      'QUALIFY ROW_NUMBER() OVER (PARTITION BY event_date, event_id ORDER BY loaded_at) = 1',
    );
    expect(script).toContain(
      "  event_id STRING NOT NULL OPTIONS (description = 'envelope id, the idempotency key'),",
    );
  });

  it('has the same columns in both engines', () => {
    const [duckTable] = duckDbSchemaStatements();
    const names = (text: string) => [...text.matchAll(/^ {2}(\w+) /gm)].map((match) => match[1]);
    const bigQueryTable = bigQuerySchemaScript({ projectId: 'p', dataset: 'd', table: 'events' });
    expect(names(duckTable!)).toEqual(names(bigQueryTable));
    expect(names(duckTable!)).toEqual([
      'event_id',
      'event_type',
      'event_version',
      'source',
      'occurred_at',
      'event_date',
      'order_id',
      'correlation_id',
      'causation_id',
      'data',
      'loaded_at',
    ]);
  });
});
