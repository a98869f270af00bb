import http from 'node:http';

export interface PubSubProxy {
  /** `host:port` to give the functions as PUBSUB_EMULATOR_HOST instead of the emulator's. */
  host: string;
  /**
   * Refuses every publish call to `topic` with `status` (403 PERMISSION_DENIED by default,
   * or 404 NOT_FOUND), as Pub/Sub does for a publisher without the role or a deleted topic,
   * until `accept(topic)`.
   */
  refuse(topic: string, status?: 403 | 404): void;
  accept(topic: string): void;
  /** Messages with attribute `event_id` = `eventId` forwarded to `topic` and accepted there. */
  forwarded(topic: string, eventId: string): number;
  /** Publish calls to `topic` refused so far. */
  refusals(topic: string): number;
  close(): Promise<void>;
}

const publishPath = /^\/v1\/projects\/[^/]+\/topics\/([^/:]+):publish$/;
const statusNames = { 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND' } as const;

/**
 * An HTTP proxy in front of the Pub/Sub emulator's REST API, for the functions' publish
 * calls: it forwards every request, and can be told to refuse the publishes to a topic (a
 * topic that went missing, a publisher that lost its role), while it counts what it let
 * through per (topic, event id).
 */
export async function startPubSubProxy(target: { emulatorHost: string }): Promise<PubSubProxy> {
  const [targetHost, targetPort] = target.emulatorHost.split(':') as [string, string];
  const agent = new http.Agent({ keepAlive: true });
  const refused = new Map<string, 403 | 404>();
  const counts = new Map<string, number>();
  const refusalCounts = new Map<string, number>();
  const key = (topic: string, eventId: string) => `${topic}\n${eventId}`;

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const match = request.method === 'POST' ? publishPath.exec(request.url ?? '') : null;
      const topic = match ? decodeURIComponent(match[1]!) : undefined;
      const refusal = topic === undefined ? undefined : refused.get(topic);
      if (topic !== undefined && refusal !== undefined) {
        refusalCounts.set(topic, (refusalCounts.get(topic) ?? 0) + 1);
        const error = {
          code: refusal,
          message: `refused by the test proxy`,
          status: statusNames[refusal],
        };
        response.writeHead(refusal, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error }));
        return;
      }
      const upstream = http.request(
        {
          host: targetHost,
          port: Number(targetPort),
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: target.emulatorHost },
          agent,
        },
        (answer) => {
          if (topic !== undefined && (answer.statusCode ?? 0) < 300) countMessages(topic, body);
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', (error) => {
        response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(String(error));
      });
      upstream.end(body);
    });
  });

  function countMessages(topic: string, body: Buffer) {
    const { messages = [] } = JSON.parse(body.toString()) as {
      messages?: { attributes?: Record<string, string> }[];
    };
    for (const message of messages) {
      const eventId = message.attributes?.event_id;
      if (eventId !== undefined) {
        counts.set(key(topic, eventId), (counts.get(key(topic, eventId)) ?? 0) + 1);
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    refuse: (topic, status = 403) => {
      refused.set(topic, status);
    },
    accept: (topic) => {
      refused.delete(topic);
    },
    forwarded: (topic, eventId) => counts.get(key(topic, eventId)) ?? 0,
    refusals: (topic) => refusalCounts.get(topic) ?? 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
