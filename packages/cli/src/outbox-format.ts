import { textTable } from '@orders/platform';
import { printable, printableJson } from './dead-letter-format';
import type { OutboxHealth, OutboxListing, OutboxRowDetail } from './outbox-listing';
import { formatAge } from './saga-format';

/** The line above `outbox list`: what the relay still owes, at a glance. */
export function formatOutboxHealth({
  unsent,
  oldestUnsentSeconds,
  waiting,
  setAside,
}: OutboxHealth): string {
  const parts = [
    unsent === 0
      ? 'nothing unsent'
      : `${unsent} unsent, the oldest ${formatAge(oldestUnsentSeconds ?? 0)} old` +
        (waiting > 0 ? ` (${waiting} waiting for a route that refused)` : ''),
  ];
  if (setAside > 0) {
    parts.push(`${setAside} set aside (never published: pnpm outbox list --set-aside)`);
  }
  return parts.join('; ');
}

/** What `outbox list` prints: one line per row, oldest first, then the count. */
export function formatOutboxTable(rows: readonly OutboxListing[], limit: number): string {
  if (rows.length === 0) return 'no unsent rows';
  const table = textTable(
    [
      'EVENT ID',
      'TYPE',
      'ORDER ID',
      'PRODUCER',
      'AGE',
      'STATE',
      'OWED TO',
      'ATTEMPTS',
      'LAST ERROR',
    ],
    rows.map((row) => [
      row.eventId,
      row.type === null ? null : printable(row.type),
      row.orderId === null ? null : printable(row.orderId),
      row.producer === null ? null : printable(row.producer),
      formatAge(row.ageSeconds),
      row.state === 'waiting' ? `waiting until ${row.nextAttemptAt}` : row.state,
      row.owedTopics.join(', ') || null,
      row.attempts,
      printable((row.state === 'set aside' ? row.setAsideReason : row.lastError) ?? '') || null,
    ]),
    { rightAligned: [4, 7] },
  );
  const count = `${rows.length} row${rows.length === 1 ? '' : 's'}`;
  const more = rows.length === limit ? ` (the ${limit} oldest: --limit shows more)` : '';
  return `${table}\n${count}${more}`;
}

/** What `outbox show` prints: the row's bookkeeping, then its event. */
export function formatOutboxRow(row: OutboxRowDetail): string {
  const pairs: [string, unknown][] = [
    ['event id', row.eventId],
    ['type', row.type],
    ['order id', row.orderId],
    ['correlation id', row.correlationId],
    ['producer', row.producer],
    ['state', row.state],
    ['created at', `${row.createdAt} (${formatAge(row.ageSeconds)} ago)`],
    ['sent at', row.sentAt],
    ['published to', row.publishedTopics.join(', ')],
    ['owed to', row.owedTopics.join(', ')],
    ['attempts', row.attempts],
    ['last error', row.lastError],
    ['next attempt', row.nextAttemptAt],
    ['set aside at', row.setAsideAt],
    ['set aside for', row.setAsideReason],
  ];
  const width = Math.max(...pairs.map(([label]) => label.length));
  const lines = pairs.map(
    ([label, value]) =>
      `${label.padEnd(width)}  ${value === null || value === '' ? '-' : printable(String(value))}`,
  );
  return [...lines, '', 'event:', printableJson(row.event)].join('\n');
}
