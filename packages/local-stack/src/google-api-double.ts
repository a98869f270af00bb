import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the double received, as the client sent it. */
export interface GoogleApiRequest {
  method: string;
  /** Without the query string (the client library adds `prettyPrint=false`). */
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

export interface GoogleApiReply {
  status?: number;
  body: unknown;
}

/** A row BigQuery's `insertAll` stored, with the table it went to. */
export interface InsertedRow {
  /** `project.dataset.table` */
  table: string;
  insertId: string | undefined;
  json: Record<string, unknown>;
}

/**
 * A double of the Google APIs a deployed function calls, on one local port, for the real
 * clients to talk to: the metadata server (what Application Default Credentials read on
 * Cloud Run; point GCE_METADATA_HOST at `metadataHost`), and BigQuery's REST API (the API
 * endpoint `bigQueryEndpoint`). BigQuery requests must carry the token the metadata server
 * issued, else 401. By default `insertAll` stores every row and answers success; `respond`
 * answers a BigQuery request instead (a row error, a 503) when it returns a reply.
 */
export interface GoogleApiDouble {
  /** `127.0.0.1:port`, the value of GCE_METADATA_HOST. */
  metadataHost: string;
  /** `http://127.0.0.1:port`, BigQuery's API endpoint. */
  bigQueryEndpoint: string;
  /** The bearer token the metadata server issues. */
  accessToken: string;
  /** Access tokens the metadata server handed out. */
  tokensIssued: number;
  /** The BigQuery requests received, oldest first (metadata requests are not recorded). */
  requests: GoogleApiRequest[];
  /** The rows `insertAll` stored. */
  inserted: InsertedRow[];
  /** Answers a BigQuery request itself when it returns a reply; `undefined` leaves it to the double. */
  respond: (request: GoogleApiRequest) => GoogleApiReply | undefined;
  /** Forgets the requests, rows and tokens issued, and answers by default again. */
  reset(): void;
  stop(): Promise<void>;
}

const insertAllPath =
  /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)\/insertAll$/;

export async function startGoogleApiDouble({
  projectId = 'orders-test',
}: {
  projectId?: string;
} = {}): Promise<GoogleApiDouble> {
  const accessToken = `double-token-${randomUUID()}`;
  const byDefault = () => undefined;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://double').pathname;
    if (path.startsWith('/computeMetadata/')) {
      answerMetadata(req, res, path);
      return;
    }
    readJson(req).then(
      (body) =>
        answerBigQuery(res, {
          method: req.method ?? '',
          path,
          authorization: req.headers.authorization,
          body,
        }),
      (error: unknown) =>
        reply(res, { status: 400, body: { error: { code: 400, message: String(error) } } }),
    );
  });

  function answerMetadata(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403).end('Missing Metadata-Flavor:Google header.');
      return;
    }
    const headers = { 'metadata-flavor': 'Google' };
    const value = metadataValue(path);
    if (value === undefined) {
      res.writeHead(404, headers).end(`no metadata at ${path}`);
      return;
    }
    const json = typeof value !== 'string';
    res.writeHead(200, {
      ...headers,
      'content-type': json ? 'application/json' : 'application/text',
    });
    res.end(json ? JSON.stringify(value) : value);
  }

  /** What the metadata server holds at `path`: text, a JSON token, or nothing. */
  function metadataValue(path: string): string | Record<string, unknown> | undefined {
    switch (path) {
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/instance/':
        return '';
      case '/computeMetadata/v1/project/project-id':
        return projectId;
      case '/computeMetadata/v1/universe/universe-domain':
        return 'googleapis.com';
      case '/computeMetadata/v1/instance/service-accounts/default/token':
        double.tokensIssued++;
        return { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' };
      default:
        return undefined;
    }
  }

  function answerBigQuery(res: ServerResponse, request: GoogleApiRequest): void {
    double.requests.push(request);
    if (request.authorization !== `Bearer ${accessToken}`) {
      reply(res, {
        status: 401,
        body: { error: { code: 401, message: 'Request had invalid authentication credentials.' } },
      });
      return;
    }
    const chosen = double.respond(request);
    if (chosen) {
      if ((chosen.status ?? 200) === 200) storeRows(request, chosen.body);
      reply(res, chosen);
      return;
    }
    const target = insertAllPath.exec(request.path);
    if (request.method === 'POST' && target) {
      storeRows(request, {});
      reply(res, { body: { kind: 'bigquery#tableDataInsertAllResponse' } });
      return;
    }
    reply(res, {
      status: 404,
      body: {
        error: {
          code: 404,
          message: `the double does not serve ${request.method} ${request.path}`,
        },
      },
    });
  }

  /** Stores the rows of an insertAll that succeeded, but those its answer lists as errors. */
  function storeRows(request: GoogleApiRequest, answer: unknown): void {
    const target = insertAllPath.exec(request.path);
    if (request.method !== 'POST' || !target) return;
    const failed = new Set(
      ((answer as { insertErrors?: { index: number }[] }).insertErrors ?? []).map((e) => e.index),
    );
    const rows = (request.body.rows ?? []) as {
      insertId?: string;
      json: Record<string, unknown>;
    }[];
    rows.forEach((row, index) => {
      if (failed.has(index)) return;
      double.inserted.push({
        table: target.slice(1, 4).join('.'),
        insertId: row.insertId,
        json: row.json,
      });
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const double: GoogleApiDouble = {
    metadataHost: `127.0.0.1:${port}`,
    bigQueryEndpoint: `http://127.0.0.1:${port}`,
    accessToken,
    tokensIssued: 0,
    requests: [],
    inserted: [],
    respond: byDefault,
    reset() {
      double.tokensIssued = 0;
      double.requests = [];
      double.inserted = [];
      double.respond = byDefault;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return double;
}

function reply(res: ServerResponse, { status = 200, body }: GoogleApiReply): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}
