import { describe, expect, it } from '@jest/globals';
import {
  formatAge,
  formatSagaHealth,
  formatSagaHistory,
  formatSagaTable,
  formatStalledTable,
} from './saga-format';
import type { SagaHistory } from './saga-history';
import type { SagaListing } from './saga-listing';

const parked: SagaListing = {
  orderId: '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50',
  status: 'NEEDS_ATTENTION',
  version: 3,
  correlationId: '5a3e1c2d-0000-4000-8000-000000000001',
  deadlineAt: null,
  overdueSeconds: null,
  updatedAt: '2026-11-28T10:00:00.000Z',
  reason: 'compensation failed 3 times: release refused',
  failedAttempts: 3,
  lastError: 'release refused',
  setAside: 0,
  totalMinor: 899,
  currency: 'EUR',
  cancelReason: 'payment_declined',
};
const waiting: SagaListing = {
  ...parked,
  orderId: '1b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f51',
  status: 'AWAITING_PAYMENT',
  version: 2,
  deadlineAt: '2026-11-28T10:02:00.000Z',
  reason: null,
  failedAttempts: 1,
  lastError: 'connection reset',
  totalMinor: 120_000,
  currency: 'JPY',
  cancelReason: null,
};

describe('formatSagaTable', () => {
  it('prints one aligned line per saga, the money in major units, and the reason', () => {
    const lines = formatSagaTable([parked, waiting], 100).split('\n');
    expect(lines[0]).toMatch(/^ORDER ID\s+STATUS\s+VERSION\s+CORRELATION ID\s+DEADLINE\s+UPDATED/);
    expect(lines[1]).toContain('NEEDS_ATTENTION');
    expect(lines[1]).toContain('8.99 EUR');
    expect(lines[1]).toMatch(/compensation failed 3 times: release refused$/);
    expect(lines[2]).toContain('120000 JPY');
    expect(lines[2]).toMatch(/last error \(1×\): connection reset$/);
    // The total column is right-aligned: both totals end at the same column.
    expect(lines[1]!.indexOf('8.99 EUR') + 8).toBe(lines[2]!.indexOf('120000 JPY') + 10);
    expect(lines[3]).toBe('2 sagas');
  });

  it('flags a saga that set payment outcomes aside, before its reason', () => {
    const [, flagged, alone] = formatSagaTable(
      [
        { ...waiting, setAside: 2 },
        { ...waiting, setAside: 1, lastError: null },
      ],
      100,
    ).split('\n');
    expect(flagged).toMatch(
      /2 payment outcomes set aside \(sagas show\); last error \(1×\): connection reset$/,
    );
    expect(alone).toMatch(/ 1 payment outcome set aside \(sagas show\)$/);
  });

  it("shows the order's cancel reason, and how long ago an overdue deadline passed", () => {
    const lines = formatSagaTable([parked, { ...waiting, overdueSeconds: 303 }], 100).split('\n');
    expect(lines[0]).toMatch(/TOTAL\s+CANCEL REASON\s+REASON \/ LAST ERROR$/);
    expect(lines[1]!.split(/ {2,}/).at(-2)).toBe('payment_declined');
    expect(lines[2]).toContain('2026-11-28T10:02:00.000Z (overdue 5m 3s)');
    expect(formatSagaTable([waiting], 100)).not.toContain('overdue');
  });

  it('says when the limit cut the list, and when there is nothing', () => {
    expect(formatSagaTable([parked], 1)).toMatch(
      /\n1 saga \(the 1 most recent: --limit shows more\)$/,
    );
    expect(formatSagaTable([], 100)).toBe('no sagas');
  });
});

describe('formatSagaHealth', () => {
  it('counts the parked and overdue sagas, with the command that shows them', () => {
    expect(formatSagaHealth({ parked: 0, overdue: 0, oldestOverdueSeconds: null })).toBe(
      'no saga parked or overdue',
    );
    expect(formatSagaHealth({ parked: 1, overdue: 0, oldestOverdueSeconds: null })).toBe(
      '1 saga parked in NEEDS_ATTENTION (pnpm sagas list --status NEEDS_ATTENTION, then pnpm sagas retry <orderId>)',
    );
    expect(formatSagaHealth({ parked: 2, overdue: 3, oldestOverdueSeconds: 7_260 })).toBe(
      '2 sagas parked in NEEDS_ATTENTION (pnpm sagas list --status NEEDS_ATTENTION, then pnpm sagas retry <orderId>); ' +
        '3 overdue by up to 2h 1m (past their deadline, not woken yet: is housekeeping running? pnpm sagas list --overdue)',
    );
  });
});

describe('formatSagaHistory', () => {
  it('prints the saga, its order, its transitions in order and its state', () => {
    const history: SagaHistory = {
      saga: {
        orderId: parked.orderId,
        type: 'order',
        status: 'NEEDS_ATTENTION',
        version: 3,
        correlationId: parked.correlationId,
        deadlineAt: null,
        failedAttempts: 3,
        lastError: 'release refused',
        createdAt: '2026-11-28T09:59:00.000Z',
        updatedAt: '2026-11-28T10:00:00.000Z',
        state: { status: 'NEEDS_ATTENTION', totalMinor: 899 },
      },
      order: {
        status: 'NEEDS_ATTENTION',
        cancelReason: null,
        totalMinor: 899,
        currency: 'EUR',
        customerId: 'cust-1',
      },
      transitions: [
        {
          version: 1,
          from: 'NEW',
          to: 'RESERVING_STOCK',
          cause: 'OrderPlaced',
          causeEventId: 'e1',
          note: null,
          at: '2026-11-28T09:59:00.000Z',
        },
        {
          version: 2,
          from: 'RESERVING_STOCK',
          to: 'AWAITING_PAYMENT',
          cause: 'StockReserved',
          causeEventId: 'e1',
          note: null,
          at: '2026-11-28T09:59:00.000Z',
        },
        {
          version: 3,
          from: 'AWAITING_PAYMENT',
          to: 'NEEDS_ATTENTION',
          cause: 'PaymentFailed',
          causeEventId: 'e2',
          note: 'compensation failed 3 times: release refused',
          at: '2026-11-28T10:00:00.000Z',
        },
      ],
    };
    const text = formatSagaHistory(history);
    expect(text).toMatch(/^order id {9}0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50$/m);
    expect(text).toMatch(/^deadline {9}-$/m);
    expect(text).toMatch(/^ {2}total {10}8\.99 EUR$/m);
    expect(text).toContain('history (3 transitions):');
    const steps = text.split('\n').filter((line) => / -> /.test(line));
    expect(
      steps.map((line) =>
        line
          .trim()
          .split(/\s{2,}/)
          .slice(0, 4),
      ),
    ).toEqual([
      ['1', '2026-11-28T09:59:00.000Z', 'NEW -> RESERVING_STOCK', 'OrderPlaced'],
      ['2', '2026-11-28T09:59:00.000Z', 'RESERVING_STOCK -> AWAITING_PAYMENT', 'StockReserved'],
      ['3', '2026-11-28T10:00:00.000Z', 'AWAITING_PAYMENT -> NEEDS_ATTENTION', 'PaymentFailed'],
    ]);
    expect(text).toMatch(
      /state:\n\{\n {2}"status": "NEEDS_ATTENTION",\n {2}"totalMinor": 899\n\}$/,
    );
    expect(formatSagaHistory({ ...history, order: null })).toContain(
      'order:\n  none: no order row with this id',
    );
  });
});

describe('formatStalledTable', () => {
  const stalled = {
    orderId: '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50',
    correlationId: '5a3e1c2d-0000-4000-8000-000000000001',
    placedAt: '2026-11-28T10:00:00.000Z',
    ageSeconds: 3_725,
    redrives: 3,
    lastRedriveAt: '2026-11-28T10:45:00.000Z',
  };

  it('shows each order with its age, its re-drives so far and its correlation id', () => {
    expect(formatStalledTable([stalled], 100).split('\n')).toEqual([
      'ORDER ID                              PLACED AT                   AGE  RE-DRIVES  CORRELATION ID                        LAST RE-DRIVE',
      '0b0f8a64-5d4c-4f3e-9a47-6f1c2d3e4f50  2026-11-28T10:00:00.000Z  1h 2m          3  5a3e1c2d-0000-4000-8000-000000000001  2026-11-28T10:45:00.000Z',
      '1 stalled order',
    ]);
    expect(formatStalledTable([stalled], 1)).toMatch(
      /\n1 stalled order \(the 1 oldest: --limit shows more\)$/,
    );
    expect(formatStalledTable([], 100)).toBe('no stalled orders');
  });

  it.each([
    [0, '0s'],
    [42, '42s'],
    [303, '5m 3s'],
    [7_500, '2h 5m'],
    [266_400, '3d 2h'],
  ])('shows an age of %i s as %s', (seconds, shown) => {
    expect(formatAge(seconds)).toBe(shown);
  });
});
