import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createDeliveryPlan,
  type DeliveryFault,
  type DeliveryRates,
  type FaultKind,
} from './fault-plan';

export interface DeliveryProxy {
  /** `http://127.0.0.1:PORT`: the base of every push endpoint. */
  url: string;
  /** Where pushes of each topic go once tampered with; set when the functions run. */
  route(topic: string, functionUrl: string): void;
  /** From now on every push passes untouched (the drain), but for an outage under way. */
  calm(): void;
  /** Refuses every push of `topic` for `durationMs`, as a consumer that is down would. */
  outage(topic: string, durationMs: number): void;
  close(): Promise<void>;
}

export interface DeliveryProxyOptions {
  seed: string;
  rates: DeliveryRates;
  /** How long a late payment result is refused: past the order's payment deadline. */
  lateHoldMs: number;
  /** Called once per fault injected. */
  onFault: (kind: FaultKind) => void;
}

interface PushBody {
  message?: { attributes?: Record<string, string>; messageId?: string };
}

/**
 * Stands between the Pub/Sub emulator's push subscriptions and the functions, and does to
 * deliveries what a real network and Pub/Sub do on a bad day: delivers twice at once,
 * refuses a push so that it comes again after later events (the emulator redelivers a
 * refused push about once a second), loses the acknowledgement of a handled push (so it
 * comes again), keeps refusing a payment result until its order's deadline has passed, and
 * refuses everything for a topic whose consumer is down. It never holds a push:
 * the emulator pushes at most two at a time per subscription, so a held push would stall
 * the others. The path stays `/projects/P/topics/T`, so functions-framework still sees a
 * Pub/Sub push.
 */
export async function startDeliveryProxy(options: DeliveryProxyOptions): Promise<DeliveryProxy> {
  const targets = new Map<string, string>();
  const seen = new Map<string, number>();
  /** Payment results refused until then (epoch ms), by message. */
  const lateUntil = new Map<string, number>();
  /** Topics whose pushes are all refused until then (epoch ms). */
  const downUntil = new Map<string, number>();
  let calm = false;
  const plan = createDeliveryPlan(options.seed, options.rates, { lateHoldMs: options.lateHoldMs });

  const decide = (topic: string, body: PushBody): DeliveryFault | 'still-late' => {
    const attributes = body.message?.attributes ?? {};
    const identity = attributes.event_id ?? body.message?.messageId ?? '';
    const until = lateUntil.get(identity);
    if (until !== undefined) {
      if (Date.now() < until) return 'still-late';
      lateUntil.delete(identity);
    }
    if (calm) return { kind: 'pass' };
    const previousDeliveries = seen.get(identity) ?? 0;
    seen.set(identity, previousDeliveries + 1);
    const fault = plan({
      topic,
      eventType: attributes.event_type ?? '',
      correlationId: attributes.correlation_id ?? '',
      messageKey: attributes.correlation_id
        ? `${attributes.correlation_id}:${attributes.event_type}`
        : identity,
      previousDeliveries,
    });
    if (fault.kind === 'late-result') lateUntil.set(identity, Date.now() + fault.holdMs);
    return fault;
  };

  const forward = async (target: string, req: IncomingMessage, body: Buffer): Promise<number> => {
    try {
      const response = await fetch(`${target}${req.url}`, {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: new Uint8Array(body),
      });
      await response.arrayBuffer();
      return response.status;
    } catch {
      // The function is down (crashed, restarting): Pub/Sub will try again.
      return 503;
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const topic = /\/topics\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
      const target = targets.get(topic);
      if (!target) {
        res.writeHead(404).end();
        return;
      }
      if (Date.now() < (downUntil.get(topic) ?? 0)) {
        res.writeHead(503).end();
        return;
      }
      let parsed: PushBody = {};
      try {
        parsed = JSON.parse(body.toString('utf8')) as PushBody;
      } catch {
        // Not ours to judge: the function dead-letters what it cannot read.
      }
      const fault = decide(topic, parsed);
      if (fault !== 'still-late' && fault.kind !== 'pass') options.onFault(fault.kind);
      let status = 503;
      if (fault === 'still-late') {
        // refused again: Pub/Sub will deliver it once more
      } else if (fault.kind === 'duplicate-delivery') {
        const statuses = await Promise.all([
          forward(target, req, body),
          forward(target, req, body),
        ]);
        status = Math.max(...statuses);
      } else if (fault.kind === 'ack-lost') {
        await forward(target, req, body);
      } else if (fault.kind === 'pass') {
        status = await forward(target, req, body);
      }
      res.writeHead(status).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    route: (topic, functionUrl) => targets.set(topic, functionUrl),
    calm: () => {
      calm = true;
    },
    outage: (topic, durationMs) => {
      downUntil.set(topic, Date.now() + durationMs);
      options.onFault('consumer-outage');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
