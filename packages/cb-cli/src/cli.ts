#!/usr/bin/env node
import { runCli } from './run-cli.js';

const interrupted = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  interrupted,
}).then(
  (code) => {
    process.exitCode = code;
    // Nothing of ours keeps the process alive; the signal listeners must not either.
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
  },
  (error: unknown) => {
    process.stderr.write(`xnai-cb: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
