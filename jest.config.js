// One jest run for the whole workspace: `unit` tests are pure, `int` tests run against the
// real PostgreSQL server, Pub/Sub emulator and functions-framework that the global setup starts.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
    module: { type: 'commonjs' },
  },
];

const shared = {
  rootDir: __dirname,
  roots: ['<rootDir>/packages', '<rootDir>/functions'],
  testEnvironment: 'node',
  // Workspace packages resolve to their TypeScript source, as in the editor.
  testEnvironmentOptions: { customExportConditions: ['source', 'node', 'require', 'default'] },
  transform: { '^.+\\.(t|j|mj)s$': swc },
  // kysely and jose ship ESM only: compile them to CommonJS like our own sources.
  transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/)?(kysely|jose)[@/])'],
  modulePathIgnorePatterns: ['/dist/', '/artifact/'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests start processes and wait for deliveries; unit tests finish in ms anyway.
  testTimeout: 60_000,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['**/src/**/*.unit.test.ts'] },
    {
      ...shared,
      displayName: 'int',
      testMatch: ['**/src/**/*.int.test.ts'],
      globalSetup: '<rootDir>/packages/local-stack/src/jest-global-setup.ts',
      globalTeardown: '<rootDir>/packages/local-stack/src/jest-global-teardown.ts',
    },
  ],
};
