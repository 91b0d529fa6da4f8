/**
 * `"workers": N | "auto"`: how many serving processes share the listeners, and whether the runtime
 * keeps one client on one process (push sessions and Maven deploy sessions live in a process unless
 * a shared store holds them). See src/adapter/workers.ts for how each runtime runs them.
 */
import type { RuntimeName } from './features.ts';

/**
 * os.availableParallelism(), fetched when asked: this module is also in the Workers bundle (the
 * config's checks), which has no node:os to import (process.getBuiltinModule: Node ≥ 20.16, Bun, Deno).
 */
function availableParallelism(): number {
  const os = (
    globalThis as { process?: { getBuiltinModule?: (name: string) => { availableParallelism?: () => number } | undefined } }
  ).process?.getBuiltinModule?.('node:os');
  return os?.availableParallelism?.() ?? (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** What `workers` takes, said whenever it is wrong. */
export const WORKERS_FORM = 'must be a whole number of processes from 1 to 1024, or "auto" (one per CPU)';

/** The `workers` error for a value of the wrong type: a quoted number names itself (`"4"` → write 4). */
export function workersTypeError(issue: { input?: unknown }): string {
  const { input } = issue;
  if (typeof input !== 'string') return WORKERS_FORM;
  return `${WORKERS_FORM}; got the string ${JSON.stringify(input)}${/^\d+$/.test(input) ? ` (a number is written without quotes: "workers": ${input})` : ''}`;
}

/** The resolved count: the number, or the CPUs this process may use for "auto" (os.availableParallelism()). */
export function workerCount(config: { workers?: number | 'auto' | undefined }, cpus: () => number = availableParallelism): number {
  const workers = config.workers ?? 1;
  return workers === 'auto' ? Math.max(1, cpus()) : workers;
}

/**
 * Whether `runtime` with several workers keeps every connection of one client address on one
 * process. Node: yes (the primary accepts and hands each connection to the worker its address
 * hashes to). Bun and Deno: no (each worker listens with SO_REUSEPORT and the kernel spreads
 * connections by the 4-tuple hash, the client's port included). One worker keeps it trivially.
 */
export function keepsClientOnOneWorker(runtime: RuntimeName, count: number): boolean {
  return count <= 1 || runtime === 'node';
}
