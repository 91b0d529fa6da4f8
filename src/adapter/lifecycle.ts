/**
 * One life of a serving process, the same on Node, Bun and Deno: the start lines on stderr, the
 * admin listener, SIGHUP (new TLS certificates for new connections) and SIGTERM/SIGINT (stop
 * accepting, let transfers in flight finish for up to `timeouts.shutdownGrace` seconds, exit 0).
 * Each adapter says how its runtime starts, reloads and drains servers (`Serving`, `AdminStart`)
 * and hands over its process (`ProcessHooks`); nothing here touches a runtime API.
 */
import type { RouterApp } from '../app.ts';
import type { Config } from '../config/schema.ts';
import { ADMIN_ENDPOINTS } from '../status/admin.ts';
import { addressInUseHint } from './listeners.ts';
import { setWorkerAdmin, workerRole } from './workers-role.ts';

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** What the lifecycle needs of the process: its signals, exit and stderr. */
export interface ProcessHooks {
  signals: {
    /** Calls `handler` on every delivery of `signal`. */
    on(signal: 'SIGHUP', handler: () => void): void;
    /** Calls `handler` on the first delivery of `signal` only. */
    once(signal: StopSignal, handler: () => void): void;
  };
  exit(code: number): never;
  /** One line on stderr. */
  log(line: string): void;
}

/** What a runtime's site listeners do when the process is told to. */
export interface Serving {
  /** SIGHUP: new certificates for new connections, connections in flight keep theirs; one line per TLS listener. */
  reload(): void;
  /** Stops accepting; resolves once the requests in flight have been answered. */
  drain(): Promise<unknown>;
  /** The grace period is over: closes what is still open (where exiting alone would not). */
  cut?(): void;
}

/** A running admin listener. */
export interface AdminServer {
  stop(): void;
}

/**
 * How a runtime starts the admin listener: calls `listening` with the address it got, or `failed`
 * (or throws) when it cannot listen.
 */
export type AdminStart = (
  options: { host: string; port: number; fetch: (request: Request) => Response | Promise<Response> },
  listening: (host: string, port: number) => void,
  failed: (error: unknown) => void,
) => AdminServer;

/** `127.0.0.1:8080`, `[::1]:8080` for URLs and messages. */
const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** The startup line on stderr, one per listener (tests and supervisors wait for "listening on"). */
export const listeningLine = (scheme: 'http' | 'https', host: string, port: number, source: string): string =>
  `registry-router listening on ${scheme}://${hostPort(host, port)} (${source})`;

/**
 * The admin listener's line on stderr (worded apart from "listening on", which supervisors wait for
 * per site listener): the status page's URL first, then every other endpoint it serves.
 */
export const adminLine = (host: string, port: number): string =>
  `registry-router status page on http://${hostPort(host, port)}/ (admin listener; also ${ADMIN_ENDPOINTS.filter((path) => path !== '/').join(', ')})`;

/** Said once on SIGTERM/SIGINT. */
export const stoppingLine = (signal: string, config: Config): string =>
  `registry-router: ${signal}, finishing transfers in flight (up to ${config.timeouts.shutdownGrace} s)`;

/**
 * The site listeners `start` returns, or the end of the process when they cannot start (a
 * certificate that cannot be used, an address in use where the runtime says so at once) with the
 * reason on stderr: exit 1 for an address in use (as on Node and for the admin listener), exit 2
 * otherwise, as for a bad config.
 */
export function startListeners<T>(start: () => T, hooks: ProcessHooks): T {
  try {
    return start();
  } catch (error) {
    hooks.log(String((error as Error).message));
    const cause = (error as { cause?: { code?: string } }).cause;
    return hooks.exit(cause?.code === 'EADDRINUSE' || (error as { code?: string }).code === 'EADDRINUSE' ? 1 : 2);
  }
}

/**
 * /status.json, /metrics, /healthz, /readyz and the status page on their own listener (loopback
 * unless configured), never behind a site's Host; undefined without `admin` in the config. A port
 * that cannot be had ends the process (exit 1) with what to do about it.
 */
export function startAdmin(config: Config, app: RouterApp, start: AdminStart, hooks: ProcessHooks): AdminServer | undefined {
  if (!config.admin) return undefined;
  // A worker has no admin listener: the primary asks it over IPC (src/adapter/workers.ts).
  if (workerRole()) {
    setWorkerAdmin((request) => app.admin.fetch(request));
    return { stop() {} };
  }
  return startAdminWith(config, (request) => app.admin.fetch(request), start, hooks);
}

/** The admin listener answering with `fetch` (the primary of several workers merges theirs); as `startAdmin`. */
export function startAdminWith(
  config: Config,
  fetch: (request: Request) => Response | Promise<Response>,
  start: AdminStart,
  hooks: ProcessHooks,
): AdminServer | undefined {
  if (!config.admin) return undefined;
  const { host, port } = config.admin;
  const failed = (error: unknown): never => {
    const where = `${host}:${port}`;
    hooks.log(`registry-router: cannot listen on ${where} (admin): ${(error as Error).message}${addressInUseHint(error, where, 'admin')}`);
    return hooks.exit(1);
  };
  try {
    return start({ host, port, fetch }, (at, got) => hooks.log(adminLine(at, got)), failed);
  } catch (error) {
    return failed(error);
  }
}

/**
 * From here on the process lives on its servers: SIGHUP reloads certificates; the first SIGTERM or
 * SIGINT stops the health checks and the admin listener, drains the site listeners and exits 0
 * once they are done, or when `timeouts.shutdownGrace` runs out (cutting what is left).
 */
export function runLifecycle({
  config,
  app,
  serving,
  admin,
  hooks,
}: {
  config: Config;
  app: RouterApp;
  serving: Serving;
  admin?: AdminServer;
  hooks: ProcessHooks;
}): void {
  hooks.signals.on('SIGHUP', () => serving.reload());
  let stopping = false;
  const stop = (signal: StopSignal): void => {
    if (stopping) return;
    stopping = true;
    hooks.log(stoppingLine(signal, config));
    app.stop();
    admin?.stop();
    void serving.drain().then(() => hooks.exit(0));
    const grace = setTimeout(() => {
      serving.cut?.();
      hooks.exit(0);
    }, config.timeouts.shutdownGrace * 1000);
    // Node and Bun: the timer alone must not keep the process up (Deno's timers are numbers).
    (grace as { unref?: () => void }).unref?.();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) hooks.signals.once(signal, () => stop(signal));
}
