// Writes infra/topology.auto.tfvars.json from the topology (`pnpm generate`); a unit test
// fails when it is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { terraformTopology } from './terraform-topology';

const tfvars = join(__dirname, '..', '..', '..', 'infra', 'topology.auto.tfvars.json');
writeFileSync(tfvars, `${JSON.stringify(terraformTopology(), null, 2)}\n`);
console.log(`wrote ${tfvars}`);
