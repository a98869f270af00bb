import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';

export interface ServedFunction {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /**
   * Delivers a Pub/Sub message to the function's topic as a push subscription does ('push': the
   * raw body that functions-framework converts, on path /projects/P/topics/T) or as Eventarc
   * does ('eventarc': a binary-mode messagePublished CloudEvent). Answers the response.
   */
  deliver(
    message: { data: Buffer; attributes?: Record<string, string> },
    shape?: 'push' | 'eventarc',
  ): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The body Pub/Sub posts to a push endpoint for `message` of `subscription` (its full name),
 * with the message's own id and publish time when it has them (one pulled), else new ones.
 */
export function pushRequestBody(
  message: {
    data: Buffer;
    attributes?: Record<string, string>;
    messageId?: string;
    publishTime?: Date;
  },
  subscription: string,
): string {
  return JSON.stringify({
    message: {
      data: message.data.toString('base64'),
      attributes: message.attributes,
      messageId: message.messageId ?? randomUUID(),
      publishTime: (message.publishTime ?? new Date()).toISOString(),
    },
    subscription,
  });
}

/**
 * Serves a function registered with functions-framework (require its module first) on a free
 * port of 127.0.0.1, through the framework's own server: a real HTTP server for real requests.
 */
export async function serveFunction(
  entryPoint: string,
  { projectId, topic = 'none' }: { projectId: string; topic?: string },
): Promise<ServedFunction> {
  const server = getTestServer(entryPoint);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    deliver(message, shape = 'push') {
      const body = pushRequestBody(message, `projects/${projectId}/subscriptions/${entryPoint}`);
      if (shape === 'push') {
        return fetch(`${url}/projects/${projectId}/topics/${topic}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
      }
      return fetch(`${url}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-id': randomUUID(),
          'ce-specversion': '1.0',
          'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
          'ce-source': `//pubsub.googleapis.com/projects/${projectId}/topics/${topic}`,
          'ce-time': new Date().toISOString(),
        },
        body,
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
