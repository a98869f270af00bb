import { parseTerraform, type TerraformConfig } from './terraform-config';

/**
 * What the policy tests need: copies of a parsed module with one file edited, so that each
 * test breaks one rule and sees it refused. Each fails the test when the text to edit is not
 * there (an edit that changes nothing would prove nothing).
 */

/** `config` with `file` edited (`from` replaced by `to`). */
export async function edited(
  config: TerraformConfig,
  file: string,
  from: string | RegExp,
  to: string,
): Promise<TerraformConfig> {
  const text = config.files[file];
  if (text === undefined) throw new Error(`no ${file} in infra/`);
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file} does not contain ${String(from)}`);
  return parseTerraform({ ...config.files, [file]: changed });
}

/** `config` with the block that starts with `header` (e.g. `resource "t" "n"`) deleted. */
export function withoutBlock(
  config: TerraformConfig,
  file: string,
  header: string,
): Promise<TerraformConfig> {
  const escaped = header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return edited(config, file, new RegExp(`${escaped} \\{\\n[\\s\\S]*?\\n\\}\\n`), '');
}

/** `config` with `hcl` appended to `file`. */
export function withExtra(
  config: TerraformConfig,
  file: string,
  hcl: string,
): Promise<TerraformConfig> {
  return edited(config, file, /$/, `\n${hcl}`);
}
