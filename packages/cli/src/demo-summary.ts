import { percentile } from '@orders/platform';
import type { OrderState } from './intake-client';
import type { OrderScenario } from './order-mix';

/** One order of a demo run, as far as it got. */
export interface TrackedOrder {
  scenario: OrderScenario;
  /** Whose order it is: the customer its token names. */
  customerId: string;
  idempotencyKey: string;
  orderId?: string;
  /** Why it could not be placed (the intake refused it or never answered). */
  placeError?: string;
  /** Its last known state. */
  state?: OrderState;
}

type Outcome = 'confirmed' | 'cancelled' | 'needsAttention' | 'pending' | 'notPlaced';

export interface DemoSummary {
  requested: number;
  /** Accepted by the intake (202). */
  placed: number;
  notPlaced: number;
  confirmed: number;
  cancelled: number;
  cancelledByReason: Record<string, number>;
  /** Final but flagged: a compensation kept failing. */
  needsAttention: number;
  /** Placed, not final when the run stopped waiting. */
  pending: number;
  /** Messages on the dead-letter queues when the run ended (of any run). */
  deadLettered: number;
  /** Nearest-rank percentiles of placed -> final (order createdAt -> updatedAt); null when none is final. */
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  byScenario: Partial<Record<OrderScenario, Record<Outcome, number>>>;
}

const finalStatuses = new Set(['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION']);

export function isFinal(state: OrderState | undefined): boolean {
  return state !== undefined && finalStatuses.has(state.status);
}

export function summarizeRun(orders: readonly TrackedOrder[], deadLettered: number): DemoSummary {
  const byScenario: DemoSummary['byScenario'] = {};
  const cancelledByReason: Record<string, number> = {};
  const none = (): Record<Outcome, number> => ({
    confirmed: 0,
    cancelled: 0,
    needsAttention: 0,
    pending: 0,
    notPlaced: 0,
  });
  const counts = none();
  const latencies: number[] = [];
  for (const order of orders) {
    const outcome = outcomeOf(order);
    counts[outcome] += 1;
    byScenario[order.scenario] ??= none();
    byScenario[order.scenario]![outcome] += 1;
    if (outcome === 'cancelled') {
      const reason = order.state?.cancelReason ?? 'unknown';
      cancelledByReason[reason] = (cancelledByReason[reason] ?? 0) + 1;
    }
    if (order.state && isFinal(order.state)) {
      latencies.push(Date.parse(order.state.updatedAt) - Date.parse(order.state.createdAt));
    }
  }
  return {
    requested: orders.length,
    placed: orders.length - counts.notPlaced,
    notPlaced: counts.notPlaced,
    confirmed: counts.confirmed,
    cancelled: counts.cancelled,
    cancelledByReason,
    needsAttention: counts.needsAttention,
    pending: counts.pending,
    deadLettered,
    p50LatencyMs: percentile(latencies, 0.5),
    p95LatencyMs: percentile(latencies, 0.95),
    byScenario,
  };
}

function outcomeOf(order: TrackedOrder): Outcome {
  if (order.orderId === undefined) return 'notPlaced';
  switch (order.state?.status) {
    case 'CONFIRMED':
      return 'confirmed';
    case 'CANCELLED':
      return 'cancelled';
    case 'NEEDS_ATTENTION':
      return 'needsAttention';
    default:
      return 'pending';
  }
}

/** The one JSON object `pnpm demo --json` prints. */
export function summaryJson(summary: DemoSummary) {
  const { placed, confirmed, cancelled, pending, deadLettered, p50LatencyMs, p95LatencyMs } =
    summary;
  return {
    placed,
    confirmed,
    cancelled,
    pending,
    deadLettered,
    p50LatencyMs,
    p95LatencyMs,
    needsAttention: summary.needsAttention,
    notPlaced: summary.notPlaced,
  };
}
