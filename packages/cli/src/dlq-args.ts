import { UsageError } from '@orders/platform';
import { parseCommandLine, unknownChoice } from './command-line';

export type DlqCommand =
  | { command: 'help' }
  | { command: 'list'; json: boolean; topic: string | undefined }
  | { command: 'show'; id: string; json: boolean; topic: string | undefined }
  | {
      command: 'replay';
      ids: string[] | 'all';
      topic: string | undefined;
      /** A file holding the fixed message body to publish instead of the dead one's. */
      data?: string | undefined;
      /** With `--all`: replay them; without it, `--all` only shows what it would replay. */
      yes?: boolean;
    };

export const dlqUsage = (topics: readonly string[]) => `usage: pnpm dlq <command> [options]

  list [--json] [--topic T]      every dead letter, oldest first (nothing is consumed)
  show <id> [--json] [--topic T] one dead letter: attributes and data
  replay <id>... [--topic T]     republish to the original topic, then remove from the DLQ;
                                 only a valid event of a type routed to that topic goes
  replay --all [--topic T]       show what replaying every dead letter (of topic T) would do
  replay --all --yes [--topic T] replay them
  replay <id> --data FILE        the same with the fixed body in FILE (JSON), for a message
                                 that was wrong itself; its event attributes follow the body

  <id> is the message id on the dead-letter topic (the ID column of list).
  --topic T reads only <T>-dlq; topics: ${topics.join(', ')}.`;

/**
 * Parses `pnpm dlq` arguments (without the node and script paths).
 * @throws UsageError
 */
export function parseDlqArgs(argv: readonly string[], topics: readonly string[]): DlqCommand {
  const { values, positionals } = parse(argv);
  if (values.help) return { command: 'help' };
  const [command, ...rest] = positionals;
  const topic = values.topic;
  if (topic !== undefined && !topics.includes(topic)) {
    throw new UsageError(unknownChoice('topic', topic, topics));
  }
  const refuse = (option: 'all' | 'json' | 'data' | 'yes') => {
    if (values[option]) throw new UsageError(`--${option} does not apply to ${command}`);
  };

  switch (command) {
    case undefined:
      throw new UsageError('a command is needed: list, show or replay');
    case 'help':
      return { command: 'help' };
    case 'list':
      refuse('all');
      refuse('data');
      refuse('yes');
      if (rest.length > 0) throw new UsageError(`list takes no argument, got ${rest.join(' ')}`);
      return { command, json: values.json ?? false, topic };
    case 'show': {
      refuse('all');
      refuse('data');
      refuse('yes');
      if (rest.length !== 1) throw new UsageError('show takes one message id');
      return { command, id: messageId(rest[0]!), json: values.json ?? false, topic };
    }
    case 'replay':
      refuse('json');
      if (values.all) {
        if (rest.length > 0) throw new UsageError('replay takes message ids or --all, not both');
        refuse('data');
        return { command, ids: 'all', topic, yes: values.yes ?? false };
      }
      if (rest.length === 0) throw new UsageError('replay takes message ids, or --all');
      if (values.yes) throw new UsageError('--yes applies to replay --all only');
      if (values.data !== undefined && rest.length !== 1) {
        throw new UsageError('--data replays one message: give exactly one id');
      }
      return { command, ids: [...new Set(rest.map(messageId))], topic, data: values.data };
    default:
      throw new UsageError(unknownChoice('command', command, ['list', 'show', 'replay']));
  }
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    json: { type: 'boolean' },
    all: { type: 'boolean' },
    topic: { type: 'string' },
    data: { type: 'string' },
    yes: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
}

function messageId(value: string): string {
  if (!/^[\w-]{1,100}$/.test(value)) throw new UsageError(`not a message id: ${value}`);
  return value;
}
