/**
 * Several worker processes (`"workers"`, src/adapter/workers.ts) from the Node entry. On Node: the
 * primary forks workers with node:cluster, listens itself with `pauseOnConnect` and hands each
 * connection, unread, to the worker its client address hashes to (`worker.send(message, socket)`,
 * the socket-passing pattern of Node's child_process docs); TLS handshakes happen in the worker.
 * Node 20 has no `reusePort`, and cluster's own round-robin would spread one client's connections
 * over the workers. Under Bun (`bun run src/node.ts`), which cannot pass sockets between processes,
 * the workers are child processes that each listen with reusePort.
 */
import cluster from 'node:cluster';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { serve } from '@hono/node-server';
import type { StartOptions } from '../../config/cli.ts';
import { isTls } from '../../config/serving.ts';
import { addressInUseHint } from '../listeners.ts';
import type { AdminStart, ProcessHooks } from '../lifecycle.ts';
import { runPrimary, runWorker, type Accepting, type Bound, type WorkerProcess } from '../workers.ts';
import { handedConnectionHandler, listenerKey, WORKER_ENV } from '../workers-role.ts';
import { processHooks } from './process.ts';

/** A child process (Bun's fork or spawn) as the primary holds it. */
export function childWorker(child: ChildProcess): WorkerProcess {
  return {
    pid: child.pid,
    send: (message, handle, sent) => void child.send(message as object, handle as Socket | undefined, { keepOpen: true }, sent ?? (() => {})),
    onMessage: (handler) => void child.on('message', handler),
    onExit: (handler) => void child.on('exit', handler),
    // process.kill, not child.kill: Deno's child.kill(signal) sends SIGTERM whatever the signal (Deno 2.9).
    kill: (signal) => {
      try {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
      } catch {
        // exited meanwhile
      }
    },
  };
}

/** Node: a cluster worker running this same entry and command line. */
function clusterWorker(id: number): WorkerProcess {
  const worker = cluster.fork({ [WORKER_ENV]: String(id) });
  return {
    pid: worker.process.pid,
    send: (message, handle, sent) => void worker.send(message as object, handle as Socket | undefined, { keepOpen: true }, sent ?? (() => {})),
    onMessage: (handler) => void worker.on('message', handler),
    onExit: (handler) => void worker.on('exit', handler),
    kill: (signal) => void worker.process.kill(signal),
  };
}

/**
 * Bun: a child process running this same entry with the same arguments. A `bun build --compile`
 * executable is its own entry (its argv[1] is the embedded script, which it must not be given).
 */
function bunWorker(id: number): WorkerProcess {
  const env = { ...process.env, [WORKER_ENV]: String(id) };
  const compiled = process.argv[1]?.startsWith('/$bunfs/') ?? false;
  const child = compiled
    ? spawn(process.execPath, process.argv.slice(2), { env, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] })
    : fork(process.argv[1]!, process.argv.slice(2), { env });
  return childWorker(child);
}

/**
 * The primary's own listeners on Node: plain TCP servers that never read a byte
 * (`pauseOnConnect`); each connection goes to `route(client address)`'s worker, TLS or not (the
 * worker's server does the handshake). Resolves once every listener listens; a busy address ends
 * the process (exit 1) with the hint a lone router gives.
 */
function acceptOnPrimary(start: StartOptions, hooks: ProcessHooks) {
  return async (route: (address: string | undefined) => WorkerProcess | undefined): Promise<Accepting> => {
    const servers: Server[] = [];
    // Handed over but not yet confirmed: kept open here (keepOpen) so that a worker dying before it
    // took one does not lose it; it goes to another worker, still unread.
    const handing = new Map<number, { socket: Socket; key: string; worker: WorkerProcess }>();
    let next = 1;
    const hand = (socket: Socket, key: string, tries = 0): void => {
      const worker = route(socket.remoteAddress);
      if (worker) {
        const n = next++;
        handing.set(n, { socket, key, worker });
        // A worker that died a moment ago (its exit not seen yet) cannot take it: again, to another once it is seen gone.
        worker.send({ t: 'conn', key, n }, socket, (error) => {
          if (!error || !handing.delete(n) || socket.destroyed) return;
          setTimeout(() => hand(socket, key, tries + 1), 20);
        });
      } else if (tries >= 200) {
        socket.destroy();
      } else {
        // No worker up (all starting again): hold the unread connection a while.
        setTimeout(() => hand(socket, key, tries + 1), 50);
      }
    };
    const bound = await Promise.all(
      start.config.listen.map(
        (entry, i) =>
          new Promise<Bound>((done) => {
            let key = listenerKey(entry);
            const server = createServer({ pauseOnConnect: true }, (socket) => hand(socket, key));
            server.once('error', (error) => {
              const where = `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`;
              hooks.log(`registry-router: cannot listen on ${where}: ${error.message}${addressInUseHint(error, where, `listen[${i}]`)}`);
              hooks.exit(1);
            });
            server.listen({ host: entry.host, port: entry.port }, () => {
              const port = (server.address() as { port: number }).port;
              key = listenerKey({ host: entry.host, port });
              done({ scheme: isTls(entry) ? 'https' : 'http', host: entry.host, port });
            });
            servers.push(server);
          }),
      ),
    );
    return {
      bound,
      close: () => servers.forEach((server) => server.close()),
      message(_from, message) {
        if (message.t !== 'got') return;
        const handed = handing.get(message.n);
        handing.delete(message.n);
        // The worker holds its own copy of the socket: closing this one ends nothing.
        handed?.socket.destroy();
      },
      exited(worker) {
        for (const [n, handed] of handing) {
          if (handed.worker !== worker) continue;
          handing.delete(n);
          hand(handed.socket, handed.key);
        }
      },
    };
  };
}

/** The primary's admin listener on @hono/node-server (Node's http, or Bun's); a busy port is an 'error' event. */
const primaryAdmin: AdminStart = ({ host, port, fetch }, listening, failed) => {
  const server = serve({ fetch, hostname: host, port }, (info) => listening(info.address, info.port)) as HttpServer;
  server.once('error', failed);
  return { stop: () => void server.close() };
};

/** `serve` of the Node entry with `count` > 1 workers: this process becomes their primary. */
export function servePrimary(start: StartOptions, count: number, hooks: ProcessHooks = processHooks): Promise<void> {
  const admin = primaryAdmin;
  if (process.versions.bun) return runPrimary({ start, count, sharing: 'reusePort', fork: bunWorker, hooks, admin });
  cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2) });
  return runPrimary({ start, count, sharing: 'handed', fork: clusterWorker, hooks, admin, accept: acceptOnPrimary(start, hooks) });
}

/**
 * This process as a worker of the Node entry: serves with `serve` once the primary says so; on
 * Node, the connections the primary hands over go to the listener they were accepted on.
 */
export function serveAsWorker(serve: (start: StartOptions) => void | Promise<void>): void {
  runWorker(
    {
      send: (message) => void process.send?.(message),
      onMessage: (handler) =>
        void process.on('message', (message: { t?: string; key?: string }, handle?: Socket) => {
          if (message?.t === 'conn' && handle) {
            process.send?.({ t: 'got', n: (message as { n?: number }).n });
            const deliver = handedConnectionHandler(message.key ?? '');
            if (deliver) deliver(handle);
            else handle.destroy();
            return;
          }
          handler(message, handle);
        }),
      onDisconnect: (handler) => void process.on('disconnect', handler),
    },
    serve,
    () => process.kill(process.pid, 'SIGTERM'),
  );
}
