/**
 * Several worker processes (`"workers"`, src/adapter/workers.ts) on Deno: child processes of the
 * same script and arguments, each listening with `reusePort` (Linux; the unstable `net` that the
 * repo's deno.json turns on), the kernel spreading connections among them. Started through
 * node:child_process with an IPC channel (Deno's `fork` would give them every permission; these
 * get the primary's net, read and env, plus sys and write when it has them whole). Needs
 * `--allow-run` in the primary. (`deno serve --parallel` was not chosen: it serves a module's
 * default `fetch` only, without this command line, SIGHUP reloads or the admin listener.)
 */
import { spawn } from 'node:child_process';
import type { StartOptions } from '../../config/cli.ts';
import type { AdminStart, ProcessHooks } from '../lifecycle.ts';
import { childWorker } from '../node/workers.ts';
import { runPrimary, runWorker, type WorkerProcess } from '../workers.ts';
import { WORKER_ENV } from '../workers-role.ts';
import { denoHooks } from './process.ts';
import type { DenoApi } from './types.ts';

declare const Deno: DenoApi & {
  execPath(): string;
  mainModule: string;
  permissions: { querySync(descriptor: { name: string }): { state: string } };
};

/** The permissions a worker gets: those the primary holds whole, of the ones the router uses. */
const granted = (): string[] =>
  ['net', 'read', 'env', 'sys', 'write'].filter((name) => Deno.permissions.querySync({ name }).state === 'granted').map((name) => `--allow-${name}`);

function denoWorker(id: number): WorkerProcess {
  const script = new URL(Deno.mainModule).pathname;
  const child = spawn(Deno.execPath(), ['run', ...granted(), '--unstable-net', '--unstable-no-legacy-abort', script, ...Deno.args], {
    env: { ...process.env, [WORKER_ENV]: String(id) },
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  return childWorker(child);
}

/** The primary's admin listener on Deno.serve, which throws at once when it cannot listen. */
const denoPrimaryAdmin: AdminStart = ({ host, port, fetch }, listening) => {
  const server = Deno.serve({ hostname: host, port, onListen: (addr) => listening(addr.hostname, addr.port) }, (request) => fetch(request));
  return { stop: () => void server.shutdown() };
};

/** `serve` on Deno with `count` > 1 workers: this process becomes their primary (exit 2 without --allow-run). */
export function servePrimary(start: StartOptions, count: number, hooks: ProcessHooks = denoHooks): Promise<void> | undefined {
  if (Deno.permissions.querySync({ name: 'run' }).state !== 'granted') {
    hooks.log(
      `registry-router: "workers": ${count} on Deno starts ${count} worker processes, which needs --allow-run ` +
        `(deno run --allow-net --allow-read --allow-env --allow-run src/deno.ts …), or set "workers": 1`,
    );
    return hooks.exit(2);
  }
  return runPrimary({ start, count, sharing: 'reusePort', fork: denoWorker, hooks, admin: denoPrimaryAdmin });
}

/** This process as a worker: serves with `serve` once the primary says so. */
export function serveAsWorker(serve: (start: StartOptions) => void | Promise<void>): void {
  runWorker(
    {
      send: (message) => void process.send?.(message),
      onMessage: (handler) => void process.on('message', handler),
      onDisconnect: (handler) => void process.on('disconnect', handler),
    },
    serve,
    () => process.kill(process.pid, 'SIGTERM'),
  );
}
