#!/usr/bin/env node
import { stackOf } from '@orders/platform';
import { runAnalyticsCommand } from './analytics-command';

// `pnpm analytics [<query>] [--json]`: see runAnalyticsCommand.
runAnalyticsCommand(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${stackOf(error)}\n`);
    process.exitCode = 1;
  },
);
