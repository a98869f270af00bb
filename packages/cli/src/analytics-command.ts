import {
  analyticsQueries,
  analyticsQuery,
  describeWarehouse,
  isAnalyticsQueryName,
  openWarehouse,
  type WarehouseConfig,
  warehouseConfigSchema,
} from '@orders/analytics';
import { messageOf } from '@orders/platform';
import { baseConfigSchema, ConfigError, parseConfig } from '@orders/runtime';
import { closest, unknownChoice } from './command-line';
import { formatTable } from './format-table';

const configSchema = warehouseConfigSchema.extend({
  GOOGLE_CLOUD_PROJECT: baseConfigSchema.shape.GOOGLE_CLOUD_PROJECT,
});

export interface AnalyticsCommandIo {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
}

const usage = 'usage: pnpm analytics [<query>] [--json]';

/**
 * `pnpm analytics`: without a query, lists the queries; with one, prints its rows as a
 * table, or with `--json` as one JSON object `{query, warehouse, rows}` and nothing else
 * on stdout. Returns the exit code: 0, 1 when the warehouse fails, 2 for a usage error
 * (an unknown query prints the list).
 */
export async function runAnalyticsCommand(
  args: readonly string[],
  { env, stdout, stderr }: AnalyticsCommandIo,
): Promise<number> {
  const options = args.filter((arg) => arg.startsWith('-'));
  const names = args.filter((arg) => !arg.startsWith('-'));
  const json = options.includes('--json');
  const unknownOption = options.find((option) => !['--json', '--help', '-h'].includes(option));
  if (unknownOption || names.length > 1) {
    stderr(`${unknownOption ? unknownOptionOf(unknownOption) : 'one query at a time'}\n${usage}\n`);
    return 2;
  }
  const [name] = names;
  if (name === undefined || options.includes('--help') || options.includes('-h')) {
    stdout(listing());
    return 0;
  }
  if (!isAnalyticsQueryName(name)) {
    stderr(
      `${unknownChoice(
        'query',
        name,
        analyticsQueries.map((query) => query.name),
      )}\n\n${listing()}`,
    );
    return 2;
  }

  let config: WarehouseConfig;
  try {
    config = parseConfig(configSchema, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    stderr(`${error.message}\n`);
    return 2;
  }
  const definition = analyticsQuery(name);
  const warehouse = openWarehouse(config);
  try {
    const rows = await warehouse.query(name);
    const where = describeWarehouse(config);
    if (json) {
      stdout(`${JSON.stringify({ query: name, warehouse: where, rows })}\n`);
    } else {
      stdout(
        `${name}: ${definition.description}\n(${where})\n\n${formatTable(definition.columns, rows as unknown as Record<string, string | number | null>[])}\n`,
      );
    }
    return 0;
  } catch (error) {
    stderr(`analytics query ${name} failed: ${messageOf(error)}\n`);
    return 1;
  } finally {
    await warehouse.close();
  }
}

function listing(): string {
  const width = Math.max(...analyticsQueries.map((query) => query.name.length));
  return `${usage}\n\nqueries:\n${analyticsQueries
    .map((query) => `  ${query.name.padEnd(width)}  ${query.description}`)
    .join('\n')}\n`;
}

function unknownOptionOf(option: string): string {
  const near = closest(option, ['--json', '--help']);
  return `unknown option ${option}${near ? ` (did you mean ${near}?)` : ''}`;
}
