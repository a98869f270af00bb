import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

/** A block body as hcl2json gives it: expressions are strings like `${var.topics}`. */
export type HclBody = { [key: string]: unknown };

/** Every `.tf` file of one Terraform module: its text and the merged parse of all of them. */
export interface TerraformConfig {
  /** File name => HCL text. */
  files: Record<string, string>;
  /** `resource.<type>.<name>` => the block bodies (one per declaration). */
  resources: Record<string, Record<string, HclBody[]>>;
  locals: HclBody;
  outputs: Record<string, HclBody[]>;
  /** `variable "<name>"` => the block bodies (its `default`, `type`, `description`). */
  variables: Record<string, HclBody[]>;
}

export class TerraformParseError extends Error {
  override readonly name = 'TerraformParseError';
}

/** Reads and parses every `.tf` file directly in `dir` (a module, not its subfolders). */
export async function loadTerraform(dir: string): Promise<TerraformConfig> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.tf')).sort();
  const files: Record<string, string> = {};
  for (const name of names) files[name] = await readFile(join(dir, name), 'utf8');
  return parseTerraform(files);
}

/** Parses HCL texts (file name => text) the way Terraform reads a module: all files as one. */
export async function parseTerraform(files: Record<string, string>): Promise<TerraformConfig> {
  const config: TerraformConfig = {
    files,
    resources: {},
    locals: {},
    outputs: {},
    variables: {},
  };
  for (const [name, text] of Object.entries(files)) {
    let parsed: HclBody;
    try {
      parsed = (await parse(name, text)) as HclBody;
    } catch (error) {
      throw new TerraformParseError(`${name}: ${(error as Error).message}`);
    }
    for (const [type, byName] of Object.entries(asRecord(parsed.resource))) {
      config.resources[type] ??= {};
      for (const [resourceName, bodies] of Object.entries(asRecord(byName))) {
        config.resources[type][resourceName] = [
          ...(config.resources[type][resourceName] ?? []),
          ...(bodies as HclBody[]),
        ];
      }
    }
    for (const block of (parsed.locals as HclBody[] | undefined) ?? []) {
      Object.assign(config.locals, block);
    }
    for (const [outputName, bodies] of Object.entries(asRecord(parsed.output))) {
      config.outputs[outputName] = [
        ...(config.outputs[outputName] ?? []),
        ...(bodies as HclBody[]),
      ];
    }
    for (const [variableName, bodies] of Object.entries(asRecord(parsed.variable))) {
      config.variables[variableName] = [
        ...(config.variables[variableName] ?? []),
        ...(bodies as HclBody[]),
      ];
    }
  }
  return config;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/** `${local.x}` replaced by the local's text, once (what the rules compare is one level deep). */
export function resolveLocals(config: TerraformConfig, text: string): string {
  const whole = /^\$\{local\.(\w+)\}$/.exec(text)?.[1];
  if (whole) return String(config.locals[whole] ?? '');
  return text.replace(/\$\{local\.(\w+)\}/g, (found, name: string) => {
    const value = config.locals[name];
    return typeof value === 'string' ? value : found;
  });
}

export function resourcesOf(config: TerraformConfig, type: string): [string, HclBody][] {
  return Object.entries(config.resources[type] ?? {}).flatMap(([name, bodies]) =>
    bodies.map((body): [string, HclBody] => [name, body]),
  );
}

export function firstBlock(body: HclBody | undefined, name: string): HclBody | undefined {
  const blocks = body?.[name];
  return Array.isArray(blocks) ? (blocks[0] as HclBody | undefined) : undefined;
}

export function refersTo(expression: unknown, reference: string): boolean {
  return JSON.stringify(expression ?? null).includes(JSON.stringify(reference).slice(1, -1));
}

export function isPubSubServiceAgent(config: TerraformConfig, member: unknown): boolean {
  return resolveLocals(config, String(member ?? '')).includes(
    '@gcp-sa-pubsub.iam.gserviceaccount.com',
  );
}
