/**
 * Packages an artifact installs instead of bundling. functions-framework must stay one module
 * instance: the runtime's copy loads the function, and a bundled second copy would register
 * the handler where the runtime never looks ("function not defined"). The Google Cloud SDKs
 * read their own files (protos, package.json) at run time, DuckDB is native, and pg loads the
 * optional pg-native by name; all of them are large and cached by Cloud Build anyway.
 * OpenTelemetry is loaded only when tracing is on (packages/runtime/src/tracing.ts): kept out
 * of the bundle, a function with tracing off neither loads nor parses it.
 */
const external = [
  /^@google-cloud\//,
  /^@duckdb\//,
  /^@opentelemetry\//,
  /^google-auth-library$/,
  /^pg$/,
  /^pg-native$/,
];

/** The package a bare import names: `@scope/name` or `name`, without a subpath. */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

export function isExternalPackage(name: string): boolean {
  return external.some((pattern) => pattern.test(name));
}
