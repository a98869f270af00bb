import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { messageOf, UsageError } from '@orders/platform';

/**
 * `argv` (without the node and script paths) parsed by node:util's `parseArgs`, strict, with
 * positionals; an unknown option or a missing value is a UsageError in the command's words
 * (`unknown option --josn (did you mean --json?)`), not the parser's.
 */
export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: Options,
) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError(parserMessage(error, options));
  }
}

/** What parseArgs refused, said plainly. */
function parserMessage(error: unknown, options: ParseArgsOptionsConfig): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return messageOf(error);
  const flags = Object.keys(options).map((name) => `--${name}`);
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const near = unknown.startsWith('--') ? closest(unknown, flags) : undefined;
    return `unknown option ${unknown}${near ? ` (did you mean ${near}?)` : ''}`;
  }
  const name = /--([\w-]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name && options[name]) {
    if (message.includes('ambiguous')) {
      return `--${name} needs a value; one that starts with - is written --${name}=-…`;
    }
    return options[name].type === 'string' ? `--${name} needs a value` : `--${name} takes no value`;
  }
  return message;
}

/**
 * `unknown <kind> <value>: did you mean <near>? (one of a, b, c)` (without a near one,
 * `...: one of a, b, c`): the refusal of a value
 * that is not one of `choices` (a command, a status, a query, a topic).
 */
export function unknownChoice(kind: string, value: string, choices: readonly string[]): string {
  const near = closest(value, choices);
  const all = choices.join(', ');
  return `unknown ${kind} ${value}: ${near ? `did you mean ${near}? (one of ${all})` : `one of ${all}`}`;
}

/**
 * The choice nearest `word`, if one is near enough to be what was meant: the same but for
 * case, a prefix of it, or a few typos away (edit distance, a transposition counting one).
 */
export function closest(word: string, choices: readonly string[]): string | undefined {
  const folded = word.toLowerCase();
  if (folded.replace(/^-+/, '').length === 0) return undefined;
  let best: { choice: string; distance: number } | undefined;
  for (const choice of choices) {
    const candidate = choice.toLowerCase();
    const distance = candidate.startsWith(folded) ? 0.5 : editDistance(folded, candidate);
    if (
      distance <= Math.max(1, Math.floor(candidate.length / 3)) &&
      (!best || distance < best.distance)
    ) {
      best = { choice, distance: candidate === folded ? 0 : distance };
    }
  }
  return best?.choice;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, transpositions. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * Runs a command's `main` on this process's arguments and environment: its answer is the
 * exit code; a failure it did not expect is printed as `<name>: <message>`, exit code 1.
 */
export function runCommand(
  name: string,
  main: (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>,
): void {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${messageOf(error)}\n`);
      process.exitCode = 1;
    },
  );
}
