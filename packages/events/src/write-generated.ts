// Writes what is generated from the catalog and the topology: packages/events/schemas/ and
// infra/topology.auto.tfvars.json. Unit tests fail when either is out of date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventJsonSchemas } from './json-schemas';
import { terraformTopology } from './terraform-topology';

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const schemas = join(__dirname, '..', 'schemas');
mkdirSync(schemas, { recursive: true });
for (const [name, schema] of Object.entries(eventJsonSchemas())) {
  writeFileSync(join(schemas, `${name}.json`), json(schema));
}
const tfvars = join(__dirname, '..', '..', '..', 'infra', 'topology.auto.tfvars.json');
writeFileSync(tfvars, json(terraformTopology()));
console.log(`wrote ${schemas} and ${tfvars}`);
