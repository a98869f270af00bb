#!/usr/bin/env node
import { resolve } from 'node:path';
import { messageOf, UsageError } from '@orders/platform';
import { runDeploy } from './run-deploy';

try {
  process.exitCode = runDeploy({
    argv: process.argv.slice(2),
    env: process.env,
    root: process.env.DEPLOY_ROOT ?? resolve(__dirname, '..', '..', '..'),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
} catch (error) {
  process.stderr.write(`${messageOf(error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
