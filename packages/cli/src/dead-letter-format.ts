import { textTable } from '@orders/platform';
import type { DeadLetter } from './dead-letter';

/**
 * ESC sequences (CSI, OSC, and the short ones: ESC c, ESC ( B), the 8-bit CSI, then every
 * other C0 control but tab and newline, DEL and every C1 control.
 */
const terminalControls =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
  /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])?|\x9b[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * `text` without what a terminal would act on instead of showing (colours, cursor moves, a
 * title, a bell): a dead letter's contents are anyone's, and an operator's terminal prints them.
 */
export function printable(text: string): string {
  return text.replace(terminalControls, '');
}

/**
 * `value` as pretty JSON a terminal shows as it is: JSON.stringify escapes the C0 controls
 * (ESC among them), and DEL and the C1 controls are escaped the same way.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\x7f-\x9f]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** What `dlq list` prints: one line per dead letter, without terminal controls. */
export function formatDeadLetterTable(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters';
  const rows = letters.map((letter) =>
    [
      letter.id,
      letter.topic,
      letter.at,
      letter.eventType,
      letter.eventId,
      letter.correlationId,
      letter.deliveryCount === null ? letter.source : `${letter.source} (${letter.deliveryCount}×)`,
      letter.reason,
    ].map((cell) => (cell === null ? cell : printable(cell))),
  );
  const header = ['ID', 'TOPIC', 'WHEN', 'EVENT', 'EVENT ID', 'CORRELATION ID', 'SOURCE', 'REASON'];
  const count = `${letters.length} dead letter${letters.length === 1 ? '' : 's'}`;
  return `${textTable(header, rows)}\n${count}`;
}

/**
 * What `dlq show` prints: the summary, every attribute, then the data (pretty when JSON),
 * without terminal controls.
 */
export function formatDeadLetter(letter: DeadLetter): string {
  const summary = [
    ['id', letter.id],
    ['topic', letter.topic],
    ['kind', letter.kind],
    ['reason', letter.reason],
    ['source', letter.source],
    ['delivery count', letter.deliveryCount],
    ['dead-lettered at', letter.at],
    ['event', letter.eventType],
    ['event id', letter.eventId],
    ['correlation id', letter.correlationId],
    ['original message id', letter.originalMessageId],
  ].filter(([, value]) => value !== null);
  const width = Math.max(...summary.map(([label]) => String(label).length));
  const attributes = Object.entries(letter.attributes).sort(([a], [b]) => a.localeCompare(b));
  const data = readData(letter.data);
  const shown = [
    ...summary.map(([label, value]) => `${String(label).padEnd(width)}  ${value}`),
    '',
    'attributes:',
    ...(attributes.length > 0
      ? attributes.map(([name, value]) => `  ${name}=${value}`)
      : ['  none']),
    '',
    `data (${letter.data.length} bytes${data.kind === 'json' ? ', JSON' : data.kind === 'base64' ? ', binary, base64' : ''}):`,
    data.kind === 'json' ? JSON.stringify(data.value, null, 2) : data.value,
  ].join('\n');
  return printable(shown);
}

/** A dead letter as JSON: the data parsed when it is JSON, else text, else base64. */
export function deadLetterJson(letter: DeadLetter) {
  const { data: raw, attributes, ...summary } = letter;
  const data = readData(raw);
  return { ...summary, attributes, data: data.value, dataEncoding: data.kind };
}

function readData(data: Buffer): { kind: 'json' | 'text' | 'base64'; value: unknown } {
  const text = new TextDecoder('utf-8', { fatal: true });
  let decoded: string;
  try {
    decoded = text.decode(data);
  } catch {
    return { kind: 'base64', value: data.toString('base64') };
  }
  try {
    return { kind: 'json', value: JSON.parse(decoded) };
  } catch {
    return { kind: 'text', value: decoded };
  }
}
