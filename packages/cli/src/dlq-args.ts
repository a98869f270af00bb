import { UsageError } from '@orders/platform';
import { parseCommandLine } from './command-line';

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
    };

export const dlqUsage = (topics: readonly string[]) => `usage: pnpm dlq <command> [options]

  list [--json] [--topic T]      every dead letter, oldest first (nothing is consumed)
  show <id> [--json] [--topic T] one dead letter: attributes and data
  replay <id>... [--topic T]     republish to the original topic, then remove from the DLQ
  replay --all [--topic T]       the same for every dead letter (of topic T)
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
    throw new UsageError(`unknown topic ${topic}: one of ${topics.join(', ')}`);
  }
  const refuse = (option: 'all' | 'json' | 'data') => {
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
      if (rest.length > 0) throw new UsageError(`list takes no argument, got ${rest.join(' ')}`);
      return { command, json: values.json ?? false, topic };
    case 'show': {
      refuse('all');
      refuse('data');
      if (rest.length !== 1) throw new UsageError('show takes one message id');
      return { command, id: messageId(rest[0]!), json: values.json ?? false, topic };
    }
    case 'replay':
      refuse('json');
      if (values.all) {
        if (rest.length > 0) throw new UsageError('replay takes message ids or --all, not both');
        refuse('data');
        return { command, ids: 'all', topic };
      }
      if (rest.length === 0) throw new UsageError('replay takes message ids, or --all');
      if (values.data !== undefined && rest.length !== 1) {
        throw new UsageError('--data replays one message: give exactly one id');
      }
      return { command, ids: [...new Set(rest.map(messageId))], topic, data: values.data };
    default:
      throw new UsageError(`unknown command ${command}: list, show or replay`);
  }
}

function parse(argv: readonly string[]) {
  return parseCommandLine(argv, {
    json: { type: 'boolean' },
    all: { type: 'boolean' },
    topic: { type: 'string' },
    data: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
}

function messageId(value: string): string {
  if (!/^[\w-]{1,100}$/.test(value)) throw new UsageError(`not a message id: ${value}`);
  return value;
}
