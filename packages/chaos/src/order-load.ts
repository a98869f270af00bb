import { setTimeout as sleep } from 'node:timers/promises';
import { seededShare } from '@orders/platform';
import { type FaultCounts, seededUuid } from './fault-plan';

export interface PlacedOrder {
  index: number;
  /** The intake's, from its answer. */
  correlationId: string;
  orderId: string;
}

/** A valid order the intake refused: a bug, reported as a violation. */
export interface RefusedOrder {
  index: number;
  /** The client's own (the intake mints the order's): it finds the request in the logs. */
  correlationId: string;
  detail: string;
}

const inStock = ['TEA-001', 'TEA-002', 'MUG-001', 'KETTLE-01', 'POT-001', 'FILTER-10'];
const declinePrefixes = ['decline-', 'nofunds-', 'fraud-'];

/**
 * Order `index` of a seed: mostly ordinary one- or multi-line orders; a share by customers
 * the sandbox provider declines (`decline-`, `nofunds-`, `fraud-`), fails transiently twice
 * (`flaky-`), answers late (`late-`: the charge's answer is lost and it lands later) or
 * slowly (`slow-`); a share of an sku that is never in stock. Counts the faults it plans.
 */
export function plannedOrder(seed: string, index: number, faults: FaultCounts) {
  const share = seededShare(seed, 'order', index);
  const pick = (list: readonly string[], salt: string) =>
    list[Math.floor(seededShare(seed, salt, index) * list.length)]!;
  const line = (salt: string) => ({
    sku: pick(inStock, salt),
    quantity: 1 + Math.floor(seededShare(seed, `${salt}-quantity`, index) * 3),
  });
  let customerId = `chaos-${index % 97}`;
  let items = [line('sku')];
  if (share < 0.08) {
    customerId = `${pick(declinePrefixes, 'decline')}${index}`;
    faults.decline += 1;
  } else if (share < 0.14) {
    customerId = `flaky-${index}`;
    // Its charge fails twice: once before the provider records it, once after.
    faults['provider-error'] += 2;
  } else if (share < 0.18) {
    customerId = `late-${index}`;
    faults['late-landing'] += 1;
  } else if (share < 0.19) {
    // Rare: the emulator pushes two messages at a time, so a slow call holds half of a
    // subscription's deliveries while it lasts.
    customerId = `slow-${index}`;
    faults['slow-payment'] += 1;
  } else if (share < 0.23) {
    items = [line('sku'), { sku: 'RARE-001', quantity: 1 }];
  } else if (share < 0.35) {
    const skus = new Set([line('a'), line('b'), line('c')].map((item) => item.sku));
    items = [...skus].map((sku) => ({ sku, quantity: 1 }));
  }
  return {
    correlationId: seededUuid(seed, 'correlation', index),
    idempotencyKey: `chaos-${seed}-${index}`,
    body: { customerId, currency: 'EUR', items },
  };
}

/**
 * Places one order as a careful client does, as its customer (`token`): the same
 * Idempotency-Key on every retry, and retries on anything that may pass (no answer, 409 in
 * flight, 5xx), honouring Retry-After. Sends its own X-Correlation-Id, which the intake logs
 * as the client's; the order's correlation id is the one the intake answers with.
 */
export async function placeOrder(
  intakeUrl: string,
  order: ReturnType<typeof plannedOrder>,
  { giveUpAfterMs, token }: { giveUpAfterMs: number; token: string },
): Promise<{ orderId: string; correlationId: string } | { refused: string }> {
  const deadline = Date.now() + giveUpAfterMs;
  let lastProblem = '';
  for (let attempt = 1; Date.now() < deadline; attempt++) {
    let waitMs = Math.min(2_000, 100 * 2 ** attempt);
    try {
      const response = await fetch(`${intakeUrl}/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'idempotency-key': order.idempotencyKey,
          'x-correlation-id': order.correlationId,
        },
        body: JSON.stringify(order.body),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      if (response.status === 202) {
        const { orderId, correlationId } = JSON.parse(text) as PlacedOrder;
        return { orderId, correlationId };
      }
      lastProblem = `${response.status} ${text}`;
      if (response.status !== 409 && response.status < 500) return { refused: lastProblem };
      const retryAfter = Number(response.headers.get('retry-after'));
      if (retryAfter > 0) waitMs = Math.min(retryAfter * 1000, 5_000);
    } catch (error) {
      lastProblem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    await sleep(waitMs);
  }
  return { refused: `gave up retrying: ${lastProblem}` };
}
