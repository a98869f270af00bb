import type { EventLoadAudit } from '@orders/analytics';
import { textTable } from '@orders/platform';
import type { DeadLetter } from './dead-letter';
import { deadLetterJson, formatDeadLetterTable, printable } from './dead-letter-format';
import type { OrderRecords } from './orders-journey';
import { formatMoney, labelled } from './saga-format';

/** A part of the journey read from a store that may be out of reach: its rows, or why not. */
export type Part<T> = { from: string; rows: T[] } | { from: string; unavailable: string };

/** One order's whole journey, as `pnpm orders show` prints it. */
export interface OrderJourney extends OrderRecords {
  analytics: Part<EventLoadAudit>;
  deadLetters: Part<DeadLetter>;
  /** Where this order's log lines are, and how to pick them out. */
  logs: string;
}

/** Whether `letter` is about the order: its correlation id, or the order id in its body. */
export function isDeadLetterOf(letter: DeadLetter, order: OrderRecords['order']): boolean {
  return (
    letter.correlationId === order.correlationId ||
    letter.data.toString('utf8').includes(order.orderId)
  );
}

/** Where the log lines of the order with `correlationId` are, on the stack the tools found. */
export function whereLogsAre(correlationId: string, devStackFile: string | undefined): string {
  const field = `"correlationId":"${correlationId}"`;
  return devStackFile
    ? `the terminal of \`pnpm dev\` (stderr; a stack \`pnpm demo\` started writes .local/demo-stack.log): ` +
        `the JSON lines with ${field}`
    : `Cloud Logging, each function's log: jsonPayload.correlationId="${correlationId}"`;
}

/** What `orders show` prints: each part under its heading, oldest first. */
export function formatOrderJourney(journey: OrderJourney): string {
  const { order, saga, payments, providerOperations } = journey;
  const money = (minor: number, currency: string) => formatMoney(minor, currency);
  const sections = [
    [
      `order ${order.orderId}`,
      ...labelled([
        ['status', order.status],
        ['cancel reason', order.cancelReason],
        ['customer', order.customerId],
        ['total', money(order.totalMinor, order.currency)],
        ['correlation id', order.correlationId],
        ['placed at', order.createdAt],
        ['updated at', order.updatedAt],
      ]).map((line) => `  ${line}`),
      indent(
        textTable(
          ['SKU', 'QUANTITY', 'UNIT PRICE'],
          order.items.map((item) => [
            item.sku,
            item.quantity,
            money(item.unitPriceMinor, order.currency),
          ]),
          { rightAligned: [2] },
        ),
      ),
    ].join('\n'),
    saga
      ? [
          `saga ${saga.saga.type}: ${saga.saga.status}, version ${saga.saga.version}` +
            (saga.saga.lastError
              ? `, last error (${saga.saga.failedAttempts}×): ${saga.saga.lastError}`
              : ''),
          indent(
            textTable(
              ['VERSION', 'AT', 'TRANSITION', 'CAUSE', 'CAUSE EVENT ID', 'NOTE'],
              saga.transitions.map((transition) => [
                transition.version,
                transition.at,
                `${transition.from ?? '-'} -> ${transition.to}`,
                transition.cause,
                transition.causeEventId,
                transition.note,
              ]),
            ),
          ),
        ].join('\n')
      : 'saga: none yet (its OrderPlaced has not reached the saga: `pnpm sagas stalled`)',
    payments.length === 0
      ? 'payments: none'
      : [
          `payments (${payments.length}):`,
          indent(
            textTable(
              ['PAYMENT ID', 'STATUS', 'AMOUNT', 'PROVIDER REF', 'FAILURE', 'REFUND ID', 'UPDATED'],
              payments.map((payment) => [
                payment.paymentId,
                payment.status,
                money(payment.amountMinor, payment.currency),
                payment.providerRef,
                payment.failureReason,
                payment.refundId,
                payment.updatedAt,
              ]),
              { rightAligned: [2] },
            ),
          ),
        ].join('\n'),
    providerOperations === null
      ? "provider: no sandbox ledger here (a real provider's records are on its side)"
      : providerOperations.length === 0
        ? 'provider (sandbox ledger): none'
        : [
            `provider (sandbox ledger, ${providerOperations.length}):`,
            indent(
              textTable(
                ['AT', 'KIND', 'OUTCOME', 'AMOUNT', 'DECLINE CODE', 'PROVIDER REF'],
                providerOperations.map((operation) => [
                  operation.at,
                  operation.kind,
                  operation.outcome,
                  money(operation.amountMinor, operation.currency),
                  operation.declineCode,
                  operation.providerRef,
                ]),
                { rightAligned: [3] },
              ),
            ),
          ].join('\n'),
    part(journey.analytics, 'analytics', (rows) =>
      textTable(
        ['EVENT', 'EVENT ID', 'COPIES LOADED'],
        rows.map((event) => [event.eventType, event.eventId, event.rawRows]),
      ),
    ),
    part(journey.deadLetters, 'dead letters', (rows) => formatDeadLetterTable(rows)),
    `logs: ${journey.logs}`,
  ];
  return sections.join('\n\n');
}

/** `--json`: the journey as data; dead letters as `dlq show --json` gives them. */
export function orderJourneyJson(journey: OrderJourney) {
  const { deadLetters } = journey;
  return {
    ...journey,
    deadLetters:
      'rows' in deadLetters
        ? { ...deadLetters, rows: deadLetters.rows.map(deadLetterJson) }
        : deadLetters,
  };
}

function part<T>(value: Part<T>, title: string, table: (rows: T[]) => string): string {
  if ('unavailable' in value)
    return `${title} (${value.from}): unavailable: ${printable(value.unavailable)}`;
  if (value.rows.length === 0) return `${title} (${value.from}): none`;
  return `${title} (${value.from}, ${value.rows.length}):\n${indent(table(value.rows))}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
