// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { type HclBody, resourcesOf, type TerraformConfig } from './terraform-config';

/**
 * The log-based metrics of infra/ as Cloud Logging applies them, so that a test can hold
 * them against the lines the functions actually write: each `google_logging_metric`
 * (one per key of its `for_each`) with its filter and extractors resolved against the
 * module's locals and the variables, a filter evaluated on a log entry, an extractor
 * applied to it. Only the forms infra/ uses are understood; any other throws, so that a
 * filter this cannot read fails its test instead of passing it.
 */

/** One log-based metric, for one key of its `for_each`. */
export interface LogMetric {
  /** `google_logging_metric.<name>`, with `["<key>"]` for one made by `for_each`. */
  address: string;
  filter: string;
  /** `EXTRACT(jsonPayload.value)` of a distribution; undefined for a counter. */
  valueExtractor: string | undefined;
  /** Label => its extractor. */
  labelExtractors: Record<string, string>;
}

/** A log entry as Cloud Logging keeps a line a Cloud Run service wrote to stdout. */
export interface LogEntry {
  resource: { type: string; labels: Record<string, string> };
  severity: string;
  jsonPayload: Record<string, unknown>;
}

export class UnsupportedLogFilterError extends Error {
  override readonly name = 'UnsupportedLogFilterError';
}

/** Every google_logging_metric of `config`, expanded over its `for_each`. */
export function logMetrics(
  config: TerraformConfig,
  variables: Record<string, unknown>,
): LogMetric[] {
  const scope = (each?: { key: string; value: unknown }) => ({
    local: config.locals,
    var: variables,
    ...(each ? { each } : {}),
  });
  return resourcesOf(config, 'google_logging_metric').flatMap(([name, body]) => {
    if (body.for_each === undefined)
      return [metricOf(`google_logging_metric.${name}`, body, scope())];
    const forEach = evaluate(body.for_each, scope());
    if (!isRecord(forEach)) throw new UnsupportedLogFilterError(`${name}: for_each is no map`);
    return Object.entries(forEach).map(([key, value]) =>
      metricOf(`google_logging_metric.${name}["${key}"]`, body, scope({ key, value })),
    );
  });
}

function metricOf(address: string, body: HclBody, scope: Scope): LogMetric {
  const labelExtractors = evaluate(body.label_extractors ?? {}, scope);
  if (!isRecord(labelExtractors)) {
    throw new UnsupportedLogFilterError(`${address}: label_extractors is no map`);
  }
  return {
    address,
    filter: String(evaluate(body.filter, scope)),
    valueExtractor:
      body.value_extractor === undefined
        ? undefined
        : String(evaluate(body.value_extractor, scope)),
    labelExtractors: Object.fromEntries(
      Object.entries(labelExtractors).map(([label, extractor]) => [label, String(extractor)]),
    ),
  };
}

type Scope = Record<string, unknown>;

/**
 * An HCL value as hcl2json gives it: a string with `${reference}` interpolations (a whole
 * `${reference}` is the value itself, a map say), or a map or list of such.
 */
function evaluate(value: unknown, scope: Scope): unknown {
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope)]));
  }
  if (typeof value !== 'string') return value;
  const whole = /^\$\{([^{}]+)\}$/.exec(value);
  if (whole) return evaluate(reference(whole[1]!, scope), scope);
  return value.replace(/\$\{([^{}]+)\}/g, (_found, expression: string) => {
    const resolved = evaluate(reference(expression, scope), scope);
    if (typeof resolved !== 'string') {
      throw new UnsupportedLogFilterError(`\${${expression}} is no string: ${String(resolved)}`);
    }
    return resolved;
  });
}

/** A traversal such as `var.topics[var.functions.housekeeping.trigger_topic].consumer`. */
function reference(expression: string, scope: Scope): unknown {
  let rest = expression.trim();
  let value: unknown = scope;
  let first = true;
  while (rest.length > 0) {
    const attribute = (first ? /^([A-Za-z_]\w*)/ : /^\.([A-Za-z_]\w*)/).exec(rest);
    if (attribute) {
      value = step(value, attribute[1]!, expression);
      rest = rest.slice(attribute[0].length);
    } else if (rest.startsWith('[')) {
      const close = matchingBracket(rest);
      const inner = rest.slice(1, close).trim();
      const key = /^"([^"]*)"$/.exec(inner)?.[1] ?? reference(inner, scope);
      value = step(value, String(evaluate(key, scope)), expression);
      rest = rest.slice(close + 1);
    } else {
      throw new UnsupportedLogFilterError(`cannot read the expression \${${expression}}`);
    }
    first = false;
  }
  return value;
}

function step(value: unknown, key: string, expression: string): unknown {
  if (!isRecord(value) || !(key in value)) {
    throw new UnsupportedLogFilterError(`\${${expression}}: nothing at ${key}`);
  }
  return value[key];
}

function matchingBracket(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '[') depth++;
    if (text[i] === ']' && --depth === 0) return i;
  }
  throw new UnsupportedLogFilterError(`unbalanced brackets in ${text}`);
}

/**
 * The entry Cloud Logging makes of a JSON line a Cloud Run service wrote: `severity` and
 * `time` and the `logging.googleapis.com/*` fields become the entry's own; the rest,
 * `message` included, is its jsonPayload.
 */
export function logEntryOf(
  line: Record<string, unknown>,
  resource: LogEntry['resource'],
): LogEntry {
  const { severity, time: _time, ...rest } = line;
  const jsonPayload = Object.fromEntries(
    Object.entries(rest).filter(([key]) => !key.startsWith('logging.googleapis.com/')),
  );
  return { resource, severity: typeof severity === 'string' ? severity : 'DEFAULT', jsonPayload };
}

const severities = [
  'DEFAULT',
  'DEBUG',
  'INFO',
  'NOTICE',
  'WARNING',
  'ERROR',
  'CRITICAL',
  'ALERT',
  'EMERGENCY',
];
const comparison = /^([\w./-]+)\s*(>=|<=|!=|=|>|<|:)\s*("(?:[^"\\]|\\.)*"|\*|[\w.-]+)$/;

/**
 * Whether `entry` passes `filter`: comparisons joined by AND, each `field = "text"`,
 * `field != "text"`, `field:*` (present), or `severity` compared with a level.
 */
export function matchesLogFilter(filter: string, entry: LogEntry): boolean {
  return splitTerms(filter).every((term) => {
    const match = comparison.exec(term);
    if (!match) throw new UnsupportedLogFilterError(`cannot read the filter term ${term}`);
    const [, path, operator, literal] = match as unknown as [string, string, string, string];
    const actual = fieldOf(entry, path);
    if (operator === ':' && literal === '*') return actual !== undefined;
    const expected = literal.startsWith('"') ? (JSON.parse(literal) as string) : literal;
    if (path === 'severity' && ['>=', '<=', '>', '<', '=', '!='].includes(operator)) {
      return compare(severities.indexOf(String(actual)), operator, severities.indexOf(expected));
    }
    if (operator === '=') return actual !== undefined && String(actual) === expected;
    if (operator === '!=') return actual === undefined || String(actual) !== expected;
    throw new UnsupportedLogFilterError(`cannot evaluate the filter term ${term}`);
  });
}

function splitTerms(filter: string): string[] {
  const terms: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < filter.length; i++) {
    const char = filter[i]!;
    if (char === '\\' && quoted) {
      current += char + (filter[++i] ?? '');
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (!quoted && filter.startsWith(' AND ', i)) {
      terms.push(current.trim());
      current = '';
      i += 4;
      continue;
    }
    const word = i === 0 || filter[i - 1] === ' ';
    if (!quoted && (/[()]/.test(char) || (word && /^(OR|NOT) /.test(filter.slice(i))))) {
      throw new UnsupportedLogFilterError(`only AND is understood: ${filter}`);
    }
    current += char;
  }
  terms.push(current.trim());
  return terms;
}

function compare(a: number, operator: string, b: number): boolean {
  if (a < 0 || b < 0) return false;
  switch (operator) {
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '=':
      return a === b;
    default:
      return a !== b;
  }
}

function fieldOf(entry: LogEntry, path: string): unknown {
  let value: unknown = entry;
  for (const key of path.split('.')) {
    if (!isRecord(value)) return undefined;
    value = value[key];
  }
  return value;
}

/** What `EXTRACT(<field>)` gives of `entry`: undefined when the field is absent. */
export function extractField(extractor: string, entry: LogEntry): unknown {
  const path = /^EXTRACT\(([\w./-]+)\)$/.exec(extractor)?.[1];
  if (!path) throw new UnsupportedLogFilterError(`cannot apply the extractor ${extractor}`);
  return fieldOf(entry, path);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
