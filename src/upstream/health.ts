import type { HealthConfig } from '../config/ha.ts';
import type { PresetName } from '../rules/presets.ts';
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
  readonly healthy: (status: number) => boolean;
  /** Statuses that count as a failure of the server that sent them (passive check). */
  readonly failStatuses: ReadonlySet<number>;
  readonly backoffMs: number;
}

/** `failover`: some role of the site has more than one server, so health decides where requests go. */
export function healthSettings(config: HealthConfig, preset: PresetName, failover: boolean): HealthSettings {
  const statuses = config.statuses ?? (preset === 'docker' ? [200, 401] : undefined);
  return {
    checks: config.checks ?? failover,
    intervalMs: config.interval * 1000,
    timeoutMs: config.timeout * 1000,
    path: config.path ?? (preset === 'docker' ? '/v2/' : '/'),
    healthy: statuses ? (status) => statuses.includes(status) : (status) => status >= 200 && status < 400,
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
  try {
    const response = await client.send({
      url: server.upstream.target(health.path),
      method: 'GET',
      headers: new Headers({ 'user-agent': 'registry-router-health-check', accept: 'application/json, */*' }),
      body: null,
      signal: controller.signal,
    });
    await drain(response.body, 64 * 1024);
    if (health.healthy(response.status)) {
      server.passed(`GET ${health.path} answered ${response.status}`);
      return true;
    }
    server.failed('active', `GET ${health.path} answered ${response.status}`);
    return false;
  } catch (error) {
    const reason = controller.signal.aborted ? `GET ${health.path}: no answer within ${health.timeoutMs / 1000} s` : `GET ${health.path}: ${describe(error)}`;
    server.failed('active', reason);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ? `${message} (${cause.code})` : message;
}
