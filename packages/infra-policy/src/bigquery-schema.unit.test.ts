// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { bigQuerySchemaScript, dedupViewName, eventColumns } from '@orders/analytics';
import { type HclBody, loadTerraform, type TerraformConfig } from './index';

// The BigQuery table and view in infra/ are the ones packages/analytics creates itself
// (bigQuerySchemaScript); these tests fail as soon as either side changes alone.

const infraDir = join(__dirname, '..', '..', '..', 'infra');

let infra: TerraformConfig;

beforeAll(async () => {
  infra = await loadTerraform(infraDir);
});

function table(name: string): HclBody {
  const body = infra.resources.google_bigquery_table?.[name]?.[0];
  if (!body) throw new Error(`no google_bigquery_table.${name} in infra/`);
  return body;
}

describe('BigQuery in infra/', () => {
  it('declares the events table with the columns of packages/analytics', async () => {
    const schema = JSON.parse(
      await readFile(join(infraDir, 'bigquery', 'events-schema.json'), 'utf8'),
    );
    expect(schema).toEqual(
      eventColumns.map((column) => ({
        name: column.name,
        type: column.bigquery.split(' ')[0],
        mode: column.bigquery.endsWith('NOT NULL') ? 'REQUIRED' : 'NULLABLE',
        description: column.about,
      })),
    );
    expect(table('events')).toMatchObject({
      schema: '${file("${path.module}/bigquery/events-schema.json")}',
      clustering: ['event_type'],
      time_partitioning: [{ type: 'DAY', field: 'event_date' }],
    });
  });

  it('declares the dedup view with the query of packages/analytics', () => {
    const view = table('events_deduped');
    expect(view.table_id).toBe(`\${var.bigquery_table}${dedupViewName('')}`);
    const query = String((view.view as HclBody[])[0]?.query)
      .replaceAll('${var.project_id}', 'P')
      .replaceAll('${google_bigquery_dataset.warehouse.dataset_id}', 'D')
      .replaceAll('${google_bigquery_table.events.table_id}', 'T')
      .trim();
    const script = bigQuerySchemaScript({ projectId: 'P', dataset: 'D', table: 'T' });
    const viewQuery = /CREATE VIEW [\s\S]*?\nAS ([\s\S]*?);\n/.exec(script)?.[1];
    expect(viewQuery).toContain('QUALIFY ROW_NUMBER()');
    expect(query).toBe(viewQuery);
  });
});
