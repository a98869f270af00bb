// Writes the JSON Schemas generated from the catalog to packages/events/schemas/
// (`pnpm generate`); a unit test fails when they are out of date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventJsonSchemas } from './json-schemas';

const schemas = join(__dirname, '..', 'schemas');
mkdirSync(schemas, { recursive: true });
for (const [name, schema] of Object.entries(eventJsonSchemas())) {
  writeFileSync(join(schemas, `${name}.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
console.log(`wrote ${schemas}`);
