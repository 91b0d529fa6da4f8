import type { HealthConfig } from '../config/ha.ts';
import type { Format } from '../formats/index.ts';
import type { UpstreamClient } from '../forward/client.ts';
import type { HealthEvent, Server } from './pool.ts';
import { drain } from '../stream/drain.ts';

/** A site's health settings, compiled from its `health` config (see config/ha.ts). */
export interface HealthSettings {
  /** Active checks run for this site. */
  readonly checks: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly path: string;
  /** What the configured (or the format's) health answer is: `check --probe` holds servers to it. */
  readonly healthy: (status: number) => boolean;
  /** `healthy` in words (`200 or 401`, `200–399`), for `check --probe`. */
  readonly healthyText: string;
  /**
   * What an active check counts as up: `healthy`, except on a non-docker site with neither `path`
   * nor `statuses` given, where any answer below 500 does (see healthSettings).
   */
  readonly passes: (status: number) => boolean;
  /** `passes` in words, for the status page and /readyz (`200 or 401`, `200–399`, `any answer below 500`). */
  readonly expected: string;
  /** Statuses that count as a failure of the server that sent them (passive check). */
  readonly failStatuses: ReadonlySet<number>;
  readonly backoffMs: number;
}

/**
 * Active checks are on unless the config turns them off: a router whose upstreams are all dead
 * must say so on /readyz, whatever the number of servers (the worker turns them off instead:
 * config/worker.ts). The default check is the format's (`health` of its module in src/formats/):
 * what tells "this server serves the format" where the format has such a path (docker: `/v2/`
 * answering 200, or 401 from a registry that wants login; raw: the root answering 200, 401 or 404).
 * Where the repository root is no API (npm, Maven, PyPI: Nexus, verdaccio, WebDAV folders answer it
 * with 200, 403 or 404 alike), the default check counts any answer below 500 as up: it catches a
 * dead, refusing or failing server, never a live one; a site that names its health `path` gets
 * 200–399 (or its `statuses`).
 */
export function healthSettings(config: HealthConfig, format: Pick<Format, 'health'>): HealthSettings {
  // The format's statuses are what its own path answers; another path is held to 200–399 (or its `statuses`).
  const ownPath = config.path === undefined || config.path === format.health.path;
  const statuses = config.statuses ?? (ownPath ? format.health.statuses : undefined);
  const healthy = statuses ? (status: number) => statuses.includes(status) : (status: number) => status >= 200 && status < 400;
  const lenient = !statuses && config.path === undefined;
  return {
    checks: config.checks ?? true,
    intervalMs: config.interval * 1000,
    timeoutMs: config.timeout * 1000,
    path: config.path ?? format.health.path,
    healthy,
    healthyText: statuses ? statuses.join(' or ') : '200–399',
    passes: lenient ? (status) => status < 500 : healthy,
    expected: statuses ? statuses.join(' or ') : lenient ? 'any answer below 500' : '200–399',
    failStatuses: new Set(config.failStatuses),
    backoffMs: config.backoff * 1000,
  };
}

/**
 * Health changes go to stderr as one JSON line each: stdout carries the access log, whose lines
 * all have one shape that log shippers parse; these events have another, and stderr already holds
 * the router's own messages (startup, shutdown). `console.error` exists on every runtime.
 */
export const stderrHealthLog = (event: HealthEvent): void => console.error(JSON.stringify(event));

export interface HealthTarget {
  readonly servers: readonly Server[];
  readonly health: HealthSettings;
}

export interface HealthChecks {
  /** Ends the timers; a check in flight finishes but schedules nothing. */
  stop(): void;
  /** Runs one round now for every site (tests). */
  runOnce(): Promise<void>;
}

/**
 * Active checks: every `interval`, `GET <server><path>` through the injected UpstreamClient for each
 * server of each site that has checks on. Plain setTimeout chains (a round never overlaps the next),
 * so it runs on every runtime; `stop()` ends them (tests, SIGTERM).
 */
export function startHealthChecks(targets: readonly HealthTarget[], client: UpstreamClient): HealthChecks {
  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const active = targets.filter((target) => target.health.checks && target.servers.length > 0);

  const round = (target: HealthTarget) => Promise.all(target.servers.map((server) => checkServer(server, target.health, client))).then(() => {});
  const schedule = (target: HealthTarget, delay: number) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      void round(target).finally(() => schedule(target, target.health.intervalMs));
    }, delay);
    // Node, Bun: do not keep the process alive for checks alone (feature-detected, not a runtime API).
    (timer as { unref?: () => void }).unref?.();
    timers.add(timer);
  };
  // The first round right away: a server that is already down is known before the first request.
  for (const target of active) schedule(target, 0);

  return {
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    runOnce: () => Promise.all(active.map(round)).then(() => {}),
  };
}

/** One check: healthy status within the timeout passes; anything else fails. Never throws. */
export async function checkServer(server: Server, health: HealthSettings, client: UpstreamClient): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('health check timed out')), health.timeoutMs);
  // The path as sent, the upstream's prefix included: "GET /" would not say which Nexus repository failed.
  const asked = `GET ${server.upstream.prefix}${health.path}`;
  try {
    const response = await client.send({
      url: server.upstream.target(health.path),
      method: 'GET',
      headers: new Headers({ 'user-agent': 'registry-router-health-check', accept: 'application/json, */*' }),
      body: null,
      signal: controller.signal,
    });
    await drain(response.body, 64 * 1024);
    if (health.passes(response.status)) {
      server.passed(`${asked} answered ${response.status}`);
      return true;
    }
    server.failed('active', `${asked} answered ${response.status}`);
    return false;
  } catch (error) {
    const reason = controller.signal.aborted ? `${asked}: no answer within ${health.timeoutMs / 1000} s` : `${asked}: ${describe(error)}`;
    server.failed('active', reason);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The failure in words. The upstream clients already word theirs (`host: connection refused
 * (ECONNREFUSED)`, forward/net-errors.ts) and keep the runtime's error as `cause`: its code is
 * added only when the message does not carry it yet.
 */
export function describe(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  const code = (error as { cause?: { code?: unknown } })?.cause?.code;
  return typeof code === 'string' && code && !message.includes(code) ? `${message} (${code})` : message;
}
