import { describe, expect, it } from '@jest/globals';
import { isExternalPackage, packageNameOf } from './external-packages';

describe('packageNameOf', () => {
  it('drops the subpath of scoped and unscoped imports', () => {
    expect(packageNameOf('@google-cloud/functions-framework/testing')).toBe(
      '@google-cloud/functions-framework',
    );
    expect(packageNameOf('pg/lib/native')).toBe('pg');
    expect(packageNameOf('zod')).toBe('zod');
  });
});

describe('isExternalPackage', () => {
  it('keeps functions-framework, the Google Cloud SDKs, DuckDB, OpenTelemetry and pg out of the bundle', () => {
    for (const name of [
      '@google-cloud/functions-framework',
      '@google-cloud/pubsub',
      // Required only when tracing is on: a function with it off never loads or parses it.
      '@opentelemetry/sdk-trace',
      '@opentelemetry/exporter-trace-otlp-proto',
      '@duckdb/node-api',
      'pg',
      'pg-native',
    ]) {
      expect(isExternalPackage(name)).toBe(true);
    }
  });

  it('bundles workspace packages and small pure-JS libraries', () => {
    for (const name of ['@orders/runtime', 'zod', 'kysely', 'pg-pool', 'pgx']) {
      expect(isExternalPackage(name)).toBe(false);
    }
  });
});
