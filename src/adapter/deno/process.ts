/** The process as Deno exposes it: what the command line reads and what the lifecycle needs. */
import type { CliHost } from '../../cli/program.ts';
import type { ProcessHooks } from '../lifecycle.ts';
import { logLine } from '../workers-role.ts';
import type { DenoApi } from './types.ts';

declare const Deno: DenoApi;

/** The command line's view of this process; the adapter adds its runtime name, client and server. */
export const denoHost: Pick<CliHost, 'argv' | 'env' | 'readText' | 'cwd' | 'exit'> = {
  argv: Deno.args,
  env: (name) => Deno.env.get(name),
  readText: (path) => Deno.readTextFileSync(path),
  cwd: () => Deno.cwd(),
  exit: (code) => Deno.exit(code),
};

/**
 * Signals, exit and stderr for src/adapter/lifecycle.ts. Deno has no one-shot listener: a stop
 * signal's handler runs on its first delivery, later ones are swallowed (the drain goes on).
 */
export const denoHooks: ProcessHooks = {
  signals: {
    on: (signal, handler) => Deno.addSignalListener(signal, handler),
    once: (signal, handler) => {
      let fired = false;
      Deno.addSignalListener(signal, () => {
        if (fired) return;
        fired = true;
        handler();
      });
    },
  },
  exit: (code) => Deno.exit(code),
  // In a worker of several, "listening on" goes to the primary and other lines name the worker.
  log: (line) => logLine(line, console.error, (message) => void process.send?.(message)),
};
