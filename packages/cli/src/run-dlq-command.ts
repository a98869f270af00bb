import { readFile } from 'node:fs/promises';
import { type DeadLetter, replayMessage, replayRefusal } from './dead-letter';
import {
  deadLetterJson,
  formatDeadLetter,
  formatDeadLetterTable,
  printable,
  printableJson,
} from './dead-letter-format';
import type { DeadLetterQueue } from './dead-letter-queue';
import type { DlqCommand } from './dlq-args';

export interface CommandOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Runs one `pnpm dlq` command against `queue`; resolves to the exit code: 0 done, 1 when a
 * message was not found or a replay failed (what failed stays on its DLQ).
 */
export async function runDlqCommand(
  command: Exclude<DlqCommand, { command: 'help' }>,
  queue: DeadLetterQueue,
  out: CommandOutput,
): Promise<number> {
  switch (command.command) {
    case 'list': {
      const letters = await queue.list();
      out.stdout(
        command.json ? printableJson(letters.map(deadLetterJson)) : formatDeadLetterTable(letters),
      );
      return 0;
    }
    case 'show': {
      const found = findOne(await queue.list(), command.id, out);
      if (!found) return 1;
      out.stdout(command.json ? printableJson(deadLetterJson(found)) : formatDeadLetter(found));
      return 0;
    }
    case 'replay':
      if (command.ids === 'all' && !command.yes) return preview(queue, out);
      return replay(command.ids, queue, out, command.data);
  }
}

/** What `replay --all` would do, without doing it (nothing is consumed). */
async function preview(queue: DeadLetterQueue, out: CommandOutput): Promise<number> {
  const letters = await queue.list();
  let going = 0;
  for (const letter of letters) {
    const refusal = replayRefusal(letter.topic, replayMessage(letter));
    if (refusal === undefined) {
      going += 1;
      out.stdout(`would replay ${describe(letter)} to ${letter.topic}`);
    } else out.stdout(`would refuse ${describe(letter)}: ${printable(refusal)}`);
  }
  const total = `${letters.length} dead letter${letters.length === 1 ? '' : 's'}`;
  out.stdout(
    `nothing replayed: ${going} of ${total} would be; \`replay --all --yes\` replays them`,
  );
  return 0;
}

/** `<id> (<event type> <event id>)`, as replay lines name a dead letter. */
function describe(letter: DeadLetter): string {
  const what = [letter.eventType ?? 'no event type', letter.eventId].filter(Boolean).join(' ');
  return printable(`${letter.id} (${what})`);
}

async function replay(
  ids: string[] | 'all',
  queue: DeadLetterQueue,
  out: CommandOutput,
  dataFile?: string,
): Promise<number> {
  let fixedData: Buffer | undefined;
  if (dataFile !== undefined) {
    try {
      fixedData = await readFile(dataFile);
      JSON.parse(fixedData.toString('utf8'));
    } catch (error) {
      out.stderr(
        `dlq: --data ${dataFile} must be a readable JSON file: ${(error as Error).message}`,
      );
      return 2;
    }
  }
  let missing = 0;
  let chosen: Set<string> | undefined;
  if (ids !== 'all') {
    // Checked first: an id that is absent, or (in production, where ids are unique per
    // topic only) on two DLQs, is refused before anything is republished.
    const letters = await queue.list();
    const found = ids.map((id) => findOne(letters, id, out));
    missing = found.filter((letter) => !letter).length;
    chosen = new Set(found.flatMap((letter) => (letter ? [key(letter)] : [])));
    if (chosen.size === 0) return 1;
  }
  const outcomes = await queue.replay(
    (letter) => !chosen || chosen.has(key(letter)),
    () => fixedData,
  );
  for (const outcome of outcomes) {
    const { letter } = outcome;
    const what = describe(letter);
    if (outcome.replayed) {
      out.stdout(`replayed ${what} to ${letter.topic} as message ${outcome.newMessageId}`);
    } else {
      out.stderr(`could not replay ${what}: ${printable(outcome.error.message)}`);
    }
  }
  const replayed = outcomes.filter((outcome) => outcome.replayed).length;
  const wanted = ids === 'all' ? outcomes.length : ids.length;
  out.stdout(`replayed ${replayed} of ${wanted} dead letter${wanted === 1 ? '' : 's'}`);
  if (ids !== 'all') {
    // Gone between the check and the replay (someone else replayed it).
    for (const chosenKey of chosen!) {
      if (!outcomes.some((outcome) => key(outcome.letter) === chosenKey)) {
        out.stderr(`dead letter ${chosenKey} was gone by the time of the replay`);
        missing += 1;
      }
    }
  }
  return missing === 0 && replayed === outcomes.length ? 0 : 1;
}

function findOne(letters: DeadLetter[], id: string, out: CommandOutput): DeadLetter | undefined {
  const matches = letters.filter((letter) => letter.id === id);
  if (matches.length === 0) {
    out.stderr(`no dead letter ${id}: \`pnpm dlq list\` shows the ids`);
    return undefined;
  }
  if (matches.length > 1) {
    const topics = matches.map((letter) => letter.topic).join(', ');
    out.stderr(`dead letter ${id} is on more than one DLQ (${topics}): add --topic`);
    return undefined;
  }
  return matches[0];
}

/** Message ids are unique per topic only (in production). */
function key(letter: DeadLetter): string {
  return `${letter.topic}/${letter.id}`;
}
