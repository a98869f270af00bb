import { describe, expect, it } from '@jest/globals';
import { formatDemoSummary } from './demo-report';
import { summarizeRun, summaryJson, type TrackedOrder } from './demo-summary';
import type { OrderState } from './intake-client';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

function order(
  scenario: TrackedOrder['scenario'],
  status: OrderState['status'] | 'not placed',
  latencyMs = 0,
  cancelReason: string | null = null,
): TrackedOrder {
  if (status === 'not placed') {
    return { scenario, customerId: 'c', idempotencyKey: 'k', placeError: 'POST /orders: 400 bad' };
  }
  return {
    scenario,
    customerId: 'c',
    idempotencyKey: 'k',
    orderId: 'o',
    state: {
      orderId: 'o',
      status,
      cancelReason,
      createdAt: at(0),
      updatedAt: at(latencyMs),
    },
  };
}

describe('summarizeRun', () => {
  it('counts outcomes, cancellations by reason, latencies of final orders and scenarios', () => {
    const summary = summarizeRun(
      [
        order('standard', 'CONFIRMED', 100),
        order('standard', 'CONFIRMED', 300),
        order('multi-line', 'CONFIRMED', 200),
        order('out-of-stock', 'CANCELLED', 50, 'out_of_stock'),
        order('declined', 'CANCELLED', 400, 'payment_declined'),
        order('insufficient-funds', 'CANCELLED', 1000, 'payment_declined'),
        order('flaky-payment', 'NEEDS_ATTENTION', 5000),
        order('standard', 'AWAITING_PAYMENT', 9000),
        order('standard', 'not placed'),
      ],
      3,
    );
    expect(summary).toEqual({
      requested: 9,
      placed: 8,
      notPlaced: 1,
      confirmed: 3,
      cancelled: 3,
      cancelledByReason: { out_of_stock: 1, payment_declined: 2 },
      needsAttention: 1,
      pending: 1,
      deadLettered: 3,
      // 7 final orders: 50 100 200 300 400 1000 5000
      p50LatencyMs: 300,
      p95LatencyMs: 5000,
      byScenario: {
        standard: { confirmed: 2, cancelled: 0, needsAttention: 0, pending: 1, notPlaced: 1 },
        'multi-line': { confirmed: 1, cancelled: 0, needsAttention: 0, pending: 0, notPlaced: 0 },
        'out-of-stock': { confirmed: 0, cancelled: 1, needsAttention: 0, pending: 0, notPlaced: 0 },
        declined: { confirmed: 0, cancelled: 1, needsAttention: 0, pending: 0, notPlaced: 0 },
        'insufficient-funds': {
          confirmed: 0,
          cancelled: 1,
          needsAttention: 0,
          pending: 0,
          notPlaced: 0,
        },
        'flaky-payment': {
          confirmed: 0,
          cancelled: 0,
          needsAttention: 1,
          pending: 0,
          notPlaced: 0,
        },
      },
    });
    expect(summaryJson(summary)).toEqual({
      placed: 8,
      confirmed: 3,
      cancelled: 3,
      pending: 1,
      deadLettered: 3,
      p50LatencyMs: 300,
      p95LatencyMs: 5000,
      needsAttention: 1,
      notPlaced: 1,
    });

    const table = formatDemoSummary(summary);
    expect(table).toMatch(/^placed\s+8$/m);
    expect(table).toMatch(/^not placed \(refused\)\s+1$/m);
    expect(table).toMatch(/^ {2}payment_declined\s+2$/m);
    expect(table).toMatch(/^dead-lettered \(on the DLQs now\)\s+3$/m);
    expect(table).toMatch(/^placed -> final p95\s+5000 ms$/m);
    expect(table).toMatch(/^standard\s+4\s+2\s+0\s+0\s+1\s+1$/m);
  });

  it('has no latency while nothing is final', () => {
    const summary = summarizeRun([order('standard', 'PLACED')], 0);
    expect(summary).toMatchObject({
      placed: 1,
      pending: 1,
      p50LatencyMs: null,
      p95LatencyMs: null,
    });
    expect(formatDemoSummary(summary)).toMatch(/^placed -> final p50\s+-$/m);
  });
});
