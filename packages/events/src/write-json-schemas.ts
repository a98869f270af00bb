// Writes schemas/<Type>.v<N>.json for every event; a unit test keeps them up to date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventJsonSchemas } from './json-schemas';

const folder = join(__dirname, '..', 'schemas');
mkdirSync(folder, { recursive: true });
for (const [name, schema] of Object.entries(eventJsonSchemas())) {
  writeFileSync(join(folder, `${name}.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
console.log(`wrote ${Object.keys(eventJsonSchemas()).length} schemas to ${folder}`);
