// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { traceWriterRole } from './access-policy';
import {
  checkInfraPolicy,
  loadTerraform,
  type TerraformConfig,
  type TopologyVariables,
} from './index';
import { edited } from './testing';

const infraDir = join(__dirname, '..', '..', '..', 'infra');
let infra: TerraformConfig;
let topology: TopologyVariables;

beforeAll(async () => {
  infra = await loadTerraform(infraDir);
  topology = JSON.parse(await readFile(join(infraDir, 'topology.auto.tfvars.json'), 'utf8'));
});

const roles = 'project_roles = ["roles/logging.logWriter", "roles/telemetry.tracesWriter"]';

describe('infra/ policy: spans', () => {
  it('lets the function accounts write spans through roles/telemetry.tracesWriter, with the Telemetry and Cloud Trace APIs on', () => {
    expect(traceWriterRole).toBe('roles/telemetry.tracesWriter');
    expect(infra.files['service-accounts.tf']).toContain(roles);
    expect(checkInfraPolicy(infra, topology)).toEqual([]);
  });

  it('refuses function accounts that cannot write spans', async () => {
    const config = await edited(
      infra,
      'service-accounts.tf',
      roles,
      'project_roles = ["roles/logging.logWriter"]',
    );
    expect(checkInfraPolicy(config, topology)).toEqual([
      'the function accounts may not write spans (roles/telemetry.tracesWriter on the project)',
    ]);
  });

  it('refuses a wider role that writes traces too, in place of the writer role or beside it', async () => {
    const agent = await edited(
      infra,
      'service-accounts.tf',
      roles,
      'project_roles = ["roles/logging.logWriter", "roles/cloudtrace.agent"]',
    );
    expect(checkInfraPolicy(agent, topology)).toEqual([
      'the function accounts may not write spans (roles/telemetry.tracesWriter on the project)',
      'google_project_iam_member.function grants roles/cloudtrace.agent to ${google_service_account.function[each.value.function].member}: a function account writes spans only through roles/telemetry.tracesWriter',
    ]);
    const writer = await edited(
      infra,
      'service-accounts.tf',
      roles,
      'project_roles = ["roles/logging.logWriter", "roles/telemetry.tracesWriter", "roles/telemetry.writer"]',
    );
    expect(checkInfraPolicy(writer, topology)).toEqual([
      'google_project_iam_member.function grants roles/telemetry.writer to ${google_service_account.function[each.value.function].member}: a function account writes spans only through roles/telemetry.tracesWriter',
    ]);
  });

  it('refuses the Terraform without the Telemetry API, or without the Cloud Trace API', async () => {
    const noTelemetry = await edited(infra, 'apis.tf', '    "telemetry.googleapis.com",\n', '');
    expect(checkInfraPolicy(noTelemetry, topology)).toEqual([
      'local.apis does not enable telemetry.googleapis.com (spans)',
    ]);
    const noTrace = await edited(infra, 'apis.tf', '    "cloudtrace.googleapis.com",\n', '');
    expect(checkInfraPolicy(noTrace, topology)).toEqual([
      'local.apis does not enable cloudtrace.googleapis.com (spans)',
    ]);
  });
});
