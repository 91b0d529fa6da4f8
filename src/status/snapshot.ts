import type { Metrics, RequestTotals } from '../metrics.ts';
import type { Site } from '../site/site.ts';
import type { HealthEvent, Server } from '../upstream/pool.ts';
import type { TransferView } from './transfers.ts';
import { MINUTE_MS, type MinuteCounts } from './window.ts';

/** `GET /status.json` on the admin listener: what the status page renders. */
export interface StatusSnapshot {
  /** Bumped when a field changes meaning or goes away. */
  version: 1;
  now: string;
  startedAt: string;
  uptimeMs: number;
  /** Same verdict and reasons as `/readyz`. */
  ready: boolean;
  problems: string[];
  /** The request history: `minutes` buckets of `bucketMs`, the last one the current (partial) minute. */
  window: { minutes: number; bucketMs: number };
  sites: SiteStatus[];
  /** Requests no site took (unknown Host → 421, refused by the request guard); null when there were none. */
  unrouted: RequestsStatus | null;
}

export interface SiteStatus {
  name: string;
  /** Active health checks. */
  checks: { on: boolean; intervalMs: number; path: string };
  writeToBackup: boolean;
  /** A write role has no primary up and its backups take no writes: pushes get 503. */
  writesPaused: boolean;
  roles: RoleStatus[];
  /** Requests sent to this site's servers whose response has not ended (`Server.active`, summed over distinct servers). */
  inFlight: number;
  /** Those in flight with their byte counts (when the app tracks them; see Transfers), oldest first. */
  transfers: TransferView[];
  requests: RequestsStatus;
}

export interface RoleStatus {
  role: string;
  /** GET/HEAD requests sent again to another server of this role. */
  retries: number;
  servers: ServerStatus[];
}

export interface ServerStatus {
  /** The server's URL, userinfo removed. */
  href: string;
  tier: 'primary' | 'backup';
  up: boolean;
  /** Since when it is in this state; the router's start when it never changed; null when unknown. */
  since: string | null;
  /** False while it has kept the state it started with. */
  changed: boolean;
  /** What decided the last change (`active` check, `passive` failed request, `backoff` over) and why. */
  via: HealthEvent['via'] | null;
  reason: string | null;
  /** The last time it went down and why (kept once it is back). */
  lastFailure: { at: string; via: HealthEvent['via']; reason: string } | null;
  /** Times it went down since the start. */
  downs: number;
  /** Requests that failed on it (passive failures). */
  failures: number;
  /** Requests to it whose response has not ended. */
  inFlight: number;
}

export interface RequestsStatus {
  /** Since the start. */
  total: RequestTotals;
  /** Oldest first; the last is the current minute. */
  minutes: MinuteCounts[];
}

/** Transfers listed per site at most (the count is `inFlight`). */
export const TRANSFERS_LISTED = 50;

/** The whole status, built from the pools and the counters when asked (never on the request path). */
export function statusSnapshot(sites: readonly Site[], metrics: Metrics, problems: readonly string[]): StatusSnapshot {
  const now = metrics.now();
  const minutes = metrics.minutes('').length;
  return {
    version: 1,
    now: new Date(now).toISOString(),
    startedAt: new Date(metrics.startedAt).toISOString(),
    uptimeMs: now - metrics.startedAt,
    ready: problems.length === 0,
    problems: [...problems],
    window: { minutes, bucketMs: MINUTE_MS },
    sites: sites.map((site) => siteStatus(site, metrics)),
    unrouted: metrics.hasSite('') ? requests(metrics, '') : null,
  };
}

function siteStatus(site: Site, metrics: Metrics): SiteStatus {
  const roles = Object.values(site.pools).map((pool) => ({
    role: pool.role,
    retries: pool.retries,
    servers: [
      ...pool.primaries.map((server) => serverStatus(server, 'primary', metrics)),
      ...pool.backups.map((server) => serverStatus(server, 'backup', metrics)),
    ],
  }));
  const writesPaused =
    !site.writeToBackup && Object.values(site.pools).some((pool) => pool.role !== 'read' && pool.backups.length > 0 && !pool.primaries.some((s) => s.up));
  return {
    name: site.name,
    checks: { on: site.health.checks, intervalMs: site.health.intervalMs, path: site.health.path },
    writeToBackup: site.writeToBackup,
    writesPaused,
    roles,
    inFlight: site.servers.reduce((sum, server) => sum + server.active, 0),
    transfers: metrics.transfers.list(site.name, TRANSFERS_LISTED),
    requests: requests(metrics, site.name),
  };
}

function serverStatus(server: Server, tier: 'primary' | 'backup', metrics: Metrics): ServerStatus {
  const record = metrics.health.of(server);
  return {
    href: withoutUserinfo(server.href),
    tier,
    up: record.up,
    since: record.since === undefined ? null : new Date(record.since).toISOString(),
    changed: record.changed,
    via: record.via ?? null,
    reason: record.reason ?? null,
    lastFailure: record.lastFailure ? { at: new Date(record.lastFailure.at).toISOString(), via: record.lastFailure.via, reason: record.lastFailure.reason } : null,
    downs: record.downs,
    failures: server.failures,
    inFlight: server.active,
  };
}

const requests = (metrics: Metrics, site: string): RequestsStatus => ({ total: metrics.totals(site), minutes: metrics.minutes(site) });

/** `http://user:secret@nexus:8081/x` → `http://nexus:8081/x`: a status page shows no credentials. */
export function withoutUserinfo(href: string): string {
  try {
    const url = new URL(href);
    if (!url.username && !url.password) return href;
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return href;
  }
}
