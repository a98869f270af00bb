import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { databaseConnections } from '@orders/deployment';
import { loadTerraform, type TerraformConfig } from './index';
import { firstBlock, resourcesOf } from './terraform-config';
import { edited } from './testing';

const infraDir = join(__dirname, '..', '..', '..', 'infra');

let infra: TerraformConfig;

beforeAll(async () => {
  infra = await loadTerraform(infraDir);
});

/** The tier infra/ gives the orders instance, and any max_connections flag it sets. */
function declaredDatabase(config: TerraformConfig) {
  const tier = config.variables.database_tier?.[0]?.default;
  const [[, instance] = []] = resourcesOf(config, 'google_sql_database_instance');
  const settings = firstBlock(instance, 'settings');
  const flags = (settings?.database_flags ?? []) as { name?: string; value?: string }[];
  const maxConnections = flags.find((flag) => flag.name === 'max_connections')?.value;
  return { tier, settingsTier: settings?.tier, maxConnections };
}

describe("the database the deploy sizes the functions' pools for", () => {
  it('is the tier infra/ declares, with the max_connections Cloud SQL gives that tier', () => {
    expect(declaredDatabase(infra)).toEqual({
      tier: databaseConnections.tier,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Terraform interpolation, literal here.
      settingsTier: '${var.database_tier}',
      // No flag: Cloud SQL's default for the tier's memory (3.75 GB: 100).
      maxConnections: undefined,
    });
    expect(databaseConnections.maxConnections).toBe(100);
  });

  it('tells a changed tier or a max_connections flag apart from the one sized for', async () => {
    const otherTier = await edited(infra, 'inputs.tf', 'db-custom-1-3840', 'db-custom-2-7680');
    expect(declaredDatabase(otherTier).tier).not.toBe(databaseConnections.tier);
    const flagged = await edited(
      infra,
      'cloud-sql.tf',
      '    database_flags {',
      '    database_flags {\n      name  = "max_connections"\n      value = "50"\n    }\n\n    database_flags {',
    );
    expect(declaredDatabase(flagged).maxConnections).toBe('50');
  });
});
