/**
 * The process as Node exposes it (Bun implements the same `process`): what the command line reads
 * (arguments, environment, files) and what the lifecycle needs (signals, exit, stderr).
 */
import { readFileSync } from 'node:fs';
import type { CliHost } from '../../cli/program.ts';
import type { ProcessHooks } from '../lifecycle.ts';
import { logLine } from '../workers-role.ts';

/** The command line's view of this process; the adapter adds its runtime name, client and server. */
export const processHost: Pick<CliHost, 'argv' | 'env' | 'readText' | 'cwd' | 'exit'> = {
  argv: process.argv.slice(2),
  env: (name) => process.env[name],
  readText: (path) => readFileSync(path, 'utf8'),
  cwd: () => process.cwd(),
  exit: (code) => process.exit(code),
};

/** Signals, exit and stderr for src/adapter/lifecycle.ts. */
export const processHooks: ProcessHooks = {
  signals: {
    on: (signal, handler) => void process.on(signal, handler),
    once: (signal, handler) => void process.once(signal, handler),
  },
  exit: (code) => process.exit(code),
  // In a worker of several, "listening on" goes to the primary and other lines name the worker.
  log: (line) => logLine(line, console.error, (message) => void process.send?.(message)),
};
