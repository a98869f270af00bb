import { setTimeout as sleep } from 'node:timers/promises';
import { forEachConcurrently } from '@orders/platform';
import { type DemoSummary, isFinal, summarizeRun, type TrackedOrder } from './demo-summary';
import { type IntakeClient, IntakeRequestError, IntakeUnreachableError } from './intake-client';
import { planOrders, type ShortStock, stockShortfall } from './order-mix';
import type { Progress } from './progress';

export interface DemoRunOptions {
  intake: IntakeClient;
  /** Messages on the dead-letter queues now. */
  countDeadLetters: () => Promise<number>;
  orders: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** How long to wait, once every order is placed, for them all to be final. */
  timeoutMs: number;
  /** Makes this run's Idempotency-Keys its own. */
  runId: string;
  progress: Progress;
  /** Hears, before any order is placed, of the products the catalog holds too few of. */
  onShortStock?: (short: ShortStock[]) => void;
  pollIntervalMs?: number;
}

export interface DemoRun {
  summary: DemoSummary;
  orders: TrackedOrder[];
}

/**
 * One demo run against a running stack:
 * 1. read the catalog (an unreachable intake fails the run here, before any order), and say
 *    which products it holds too few of for the mix;
 * 2. place the seeded mix of orders, each with its own Idempotency-Key, `concurrency` at a time;
 * 3. poll every placed order until all are final (CONFIRMED, CANCELLED, NEEDS_ATTENTION)
 *    or `timeoutMs` has passed;
 * 4. count the dead letters and summarize.
 * @throws IntakeUnreachableError when the catalog cannot be read
 */
export async function runDemo(options: DemoRunOptions): Promise<DemoRun> {
  const { intake, progress, concurrency } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 250;

  // 1. The catalog decides what the mix orders.
  const products = await intake.listProducts();
  const plan = planOrders({ count: options.orders, seed: options.seed, products });
  const short = stockShortfall(plan, products);
  if (short.length > 0) options.onShortStock?.(short);
  const orders: TrackedOrder[] = plan.map((planned, index) => ({
    scenario: planned.scenario,
    customerId: planned.body.customerId,
    idempotencyKey: `demo-${options.runId}-${index + 1}`,
  }));
  const counts = () => ({
    total: orders.length,
    placed: orders.filter((order) => order.orderId !== undefined).length,
    notPlaced: orders.filter((order) => order.placeError !== undefined).length,
    final: orders.filter((order) => isFinal(order.state)).length,
  });
  const report = () => progress.update(counts());

  // 2. Place them; a refusal is recorded, not fatal: the summary shows it.
  await forEachConcurrently(plan, concurrency, async (planned, index) => {
    const order = orders[index]!;
    try {
      order.orderId = (await intake.placeOrder(planned.body, order.idempotencyKey)).orderId;
    } catch (error) {
      if (!(error instanceof IntakeRequestError || error instanceof IntakeUnreachableError)) {
        throw error;
      }
      order.placeError = error.message;
    }
    report();
  });

  // 3. Wait for every placed order to be final, or for the deadline.
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const open = orders.filter((order) => order.orderId !== undefined && !isFinal(order.state));
    await forEachConcurrently(open, concurrency, async (order) => {
      try {
        order.state = await intake.getOrder(order.orderId!, order.customerId);
      } catch (error) {
        // A failed poll keeps the last state; the next round asks again.
        if (!(error instanceof IntakeRequestError || error instanceof IntakeUnreachableError)) {
          throw error;
        }
      }
      report();
    });
    const stillOpen = open.filter((order) => !isFinal(order.state)).length;
    if (stillOpen === 0 || Date.now() >= deadline) break;
    await sleep(Math.min(pollIntervalMs, Math.max(0, deadline - Date.now())));
  }
  progress.finish(counts());

  // 4. What is on the DLQs now, then the summary.
  return { summary: summarizeRun(orders, await options.countDeadLetters()), orders };
}
