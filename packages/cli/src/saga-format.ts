import type { StalledOrder } from '@orders/ordering';
import { textTable } from '@orders/platform';
import type { SagaHistory } from './saga-history';
import type { SagaHealth, SagaListing } from './saga-listing';

/** What `sagas list` prints: one line per saga, then the count. */
export function formatSagaTable(sagas: readonly SagaListing[], limit: number): string {
  if (sagas.length === 0) return 'no sagas';
  const rows = sagas.map((saga) => [
    saga.orderId,
    saga.status,
    saga.version,
    saga.correlationId,
    saga.overdueSeconds === null
      ? saga.deadlineAt
      : `${saga.deadlineAt} (overdue ${formatAge(saga.overdueSeconds)})`,
    saga.updatedAt,
    saga.totalMinor === null ? null : formatMoney(saga.totalMinor, saga.currency!),
    saga.cancelReason,
    whyOf(saga),
  ]);
  const header = [
    'ORDER ID',
    'STATUS',
    'VERSION',
    'CORRELATION ID',
    'DEADLINE',
    'UPDATED',
    'TOTAL',
    'CANCEL REASON',
    'REASON / LAST ERROR',
  ];
  const count = `${sagas.length} saga${sagas.length === 1 ? '' : 's'}`;
  const more = sagas.length === limit ? ` (the ${limit} most recent: --limit shows more)` : '';
  return `${textTable(header, rows, { rightAligned: [6] })}\n${count}${more}`;
}

/** The line above `sagas list` (and in the demo): what waits for an operator, at a glance. */
export function formatSagaHealth({ parked, overdue, oldestOverdueSeconds }: SagaHealth): string {
  if (parked === 0 && overdue === 0) return 'no saga parked or overdue';
  const parts: string[] = [];
  if (parked > 0) {
    parts.push(
      `${parked} saga${parked === 1 ? '' : 's'} parked in NEEDS_ATTENTION (pnpm sagas list --status NEEDS_ATTENTION, then pnpm sagas retry <orderId>)`,
    );
  }
  if (overdue > 0) {
    parts.push(
      `${overdue} overdue by up to ${formatAge(oldestOverdueSeconds ?? 0)} (past their deadline, not woken yet: is housekeeping running? pnpm sagas list --overdue)`,
    );
  }
  return parts.join('; ');
}

/** What `sagas stalled` prints: one line per order, oldest first, then the count. */
export function formatStalledTable(orders: readonly StalledOrder[], limit: number): string {
  if (orders.length === 0) return 'no stalled orders';
  const rows = orders.map((order) => [
    order.orderId,
    order.placedAt,
    formatAge(order.ageSeconds),
    order.redrives,
    order.correlationId,
    order.lastRedriveAt,
  ]);
  const header = ['ORDER ID', 'PLACED AT', 'AGE', 'RE-DRIVES', 'CORRELATION ID', 'LAST RE-DRIVE'];
  const count = `${orders.length} stalled order${orders.length === 1 ? '' : 's'}`;
  const more = orders.length === limit ? ` (the ${limit} oldest: --limit shows more)` : '';
  return `${textTable(header, rows, { rightAligned: [2] })}\n${count}${more}`;
}

/** `42s`, `5m 3s`, `2h 5m`, `3d 2h`. */
export function formatAge(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const index = units.findIndex(([, size]) => seconds >= size);
  if (index < 0) return '0s';
  const [unit, size] = units[index]!;
  const next = units[index + 1];
  const whole = `${Math.floor(seconds / size)}${unit}`;
  return next ? `${whole} ${Math.floor((seconds % size) / next[1])}${next[0]}` : whole;
}

/** What `sagas show` prints: the saga, its order, its history in version order, its state. */
export function formatSagaHistory({ saga, order, transitions }: SagaHistory): string {
  const history = textTable(
    ['VERSION', 'AT', 'TRANSITION', 'CAUSE', 'CAUSE EVENT ID', 'NOTE'],
    transitions.map((transition) => [
      transition.version,
      transition.at,
      `${transition.from ?? '-'} -> ${transition.to}`,
      transition.cause,
      transition.causeEventId,
      transition.note,
    ]),
  );
  return [
    ...labelled([
      ['order id', saga.orderId],
      ['saga', saga.type],
      ['status', saga.status],
      ['version', saga.version],
      ['correlation id', saga.correlationId],
      ['deadline', saga.deadlineAt],
      ['failed attempts', saga.failedAttempts],
      ['last error', saga.lastError],
      ['created at', saga.createdAt],
      ['updated at', saga.updatedAt],
    ]),
    '',
    'order:',
    ...(order
      ? labelled([
          ['status', order.status],
          ['cancel reason', order.cancelReason],
          ['total', formatMoney(order.totalMinor, order.currency)],
          ['customer', order.customerId],
        ]).map((line) => `  ${line}`)
      : ['  none: no order row with this id']),
    '',
    `history (${transitions.length} transition${transitions.length === 1 ? '' : 's'}):`,
    history,
    '',
    'state:',
    JSON.stringify(saga.state, null, 2),
  ].join('\n');
}

function whyOf(saga: SagaListing): string | null {
  const flag =
    saga.setAside > 0
      ? `${saga.setAside} payment outcome${saga.setAside === 1 ? '' : 's'} set aside (sagas show)`
      : null;
  const why = saga.reason
    ? saga.reason
    : saga.lastError
      ? `last error (${saga.failedAttempts}×): ${saga.lastError}`
      : null;
  return flag && why ? `${flag}; ${why}` : (flag ?? why);
}

export function labelled(pairs: [string, unknown][]): string[] {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value ?? '-'}`);
}

/** `2697 EUR` -> `26.97 EUR`, with the currency's own number of decimals. */
export function formatMoney(minor: number, currency: string): string {
  let digits = 2;
  try {
    digits =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
  } catch {
    // Not a currency Intl knows: assume cents.
  }
  const sign = minor < 0 ? '-' : '';
  const units = Math.abs(minor);
  const whole = Math.floor(units / 10 ** digits);
  const fraction = digits > 0 ? `.${String(units % 10 ** digits).padStart(digits, '0')}` : '';
  return `${sign}${whole}${fraction} ${currency}`;
}
