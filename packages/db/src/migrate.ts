#!/usr/bin/env node
import { runMigrate } from './migrate-command';

runMigrate(process.argv.slice(2), process.env, (line) => process.stderr.write(`${line}\n`)).then(
  (code) => {
    process.exitCode = code;
  },
);
