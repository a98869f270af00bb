import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleFunction, functions as declared } from '@orders/deployment';
import {
  type DevIssuer,
  type FunctionProcess,
  lineSink,
  startDevIssuer,
  startFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';

/**
 * With tracing off, a function as deployed loads no OpenTelemetry module: place-order's
 * artifact, installed by `npm ci` in an empty folder (as Cloud Build does), served by the
 * functions-framework it installed, answering a real request, with a preload that records
 * every module the process resolves (`fixtures/record-resolutions.cjs`). The same process
 * with OTEL_TRACES=on is the control: it does load them, so the record would show them.
 */
const run = promisify(execFile);
const repoRoot = join(__dirname, '..', '..', '..');
const preload = join(__dirname, 'fixtures', 'record-resolutions.cjs');
const workDir = mkdtempSync(join(tmpdir(), 'tracing-off-'));
const dir = join(workDir, 'place-order');
let database: TestDatabase;
let issuer: DevIssuer;

beforeAll(async () => {
  issuer = await startDevIssuer({ audience: 'tracing-off' });
  database = await testDatabase('tracing-off');
  const artifact = await bundleFunction(repoRoot, 'place-order', {
    outDir: join(workDir, 'artifact'),
  });
  expect(Object.keys(artifact.dependencies)).toContain('@opentelemetry/sdk-trace');
  cpSync(artifact.dir, dir, { recursive: true });
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 300_000);

afterAll(async () => {
  await issuer?.stop();
  await database?.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** Starts the artifact with `env`, lists its catalog, and returns what it resolved by then. */
async function serveOnce(name: string, env: Record<string, string>): Promise<string[]> {
  const record = join(workDir, `${name}.resolved`);
  let fn: FunctionProcess | undefined;
  try {
    fn = await startFunction({
      name: 'place-order',
      dir,
      entryPoint: declared['place-order'].entryPoint,
      signatureType: 'http',
      stdout: lineSink(),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS: `--require ${preload}`,
        RECORD_RESOLUTIONS_FILE: record,
        GOOGLE_CLOUD_PROJECT: testProjectId('tracing-off'),
        DATABASE_URL: database.url,
        LOG_LEVEL: 'error',
        AUTH_ISSUER: issuer.issuer,
        AUTH_AUDIENCE: issuer.audience,
        AUTH_JWKS_URL: issuer.jwksUrl,
        ...env,
      },
    });
    const response = await fetch(`${fn.url}/products`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    return readFileSync(record, 'utf8').split('\n').filter(Boolean);
  } finally {
    await fn?.stop();
  }
}

const openTelemetry = (url: string) => url.includes('/node_modules/@opentelemetry/');

describe('the deployed place-order with tracing off', () => {
  it('serves a request without loading any OpenTelemetry module', async () => {
    const resolved = await serveOnce('off', {});
    // The record is the process's: it saw the function and its framework load.
    expect(resolved.some((url) => url.includes('@google-cloud/functions-framework'))).toBe(true);
    expect(resolved.some((url) => url.endsWith(`${dir}/index.js`))).toBe(true);
    expect(resolved.filter(openTelemetry)).toEqual([]);
  }, 60_000);

  it('loads them with OTEL_TRACES=on (the record would show them)', async () => {
    const resolved = await serveOnce('on', {
      OTEL_TRACES: 'on',
      OTEL_TRACES_FILE: join(workDir, 'spans.jsonl'),
    });
    expect(resolved.filter(openTelemetry)).toEqual(
      expect.arrayContaining([expect.stringContaining('/@opentelemetry/sdk-trace/')]),
    );
    expect(readFileSync(join(workDir, 'spans.jsonl'), 'utf8')).toContain('"name":"GET /products"');
  }, 60_000);
});
