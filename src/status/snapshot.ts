import type { Metrics, RequestTotals } from './metrics.ts';
import type { Site } from '../site/site.ts';
import type { HealthEvent, HealthState, Server } from '../upstream/pool.ts';
import type { TransferView } from './transfers.ts';
import { MINUTE_MS, type MinuteCounts } from './window.ts';

/** `GET /status.json` on the admin listener: what the status page renders. */
export interface StatusSnapshot {
  /** Bumped when a field changes meaning or goes away. */
  version: 2;
  now: string;
  startedAt: string;
  uptimeMs: number;
  /** Same verdict and reasons as `/readyz` (the sessions store's line, if any, last: it does not make the router not ready). */
  ready: boolean;
  problems: string[];
  /**
   * The shared sessions store (config `sessions`); absent when each process keeps its own. Of several
   * workers: the one away, if any, with their fallbacks added.
   */
  sessions?: { store: string; url: string; up: boolean; since: string; fallbacks: number; reason: string };
  /** The request history: `minutes` buckets of `bucketMs`, the last one the current (partial) minute. */
  window: { minutes: number; bucketMs: number };
  sites: SiteStatus[];
  /** Requests no site took (unknown Host → 421, refused by the request guard); null when there were none. */
  unrouted: RequestsStatus | null;
}

export interface SiteStatus {
  name: string;
  /**
   * How the site's server health is known: active checks (`on`: `GET <server><path>` every
   * `intervalMs`, up when the answer is `expected`) besides failed and answered requests, or from
   * requests alone (`on: false`).
   */
  checks: { on: boolean; intervalMs: number; path: string; expected: string };
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
  /** What is known: `up` (a check passed or a request was answered), `down`, or `unknown` (nobody has looked). */
  state: HealthState;
  /** `state === 'up'`. */
  up: boolean;
  /** Since when it is in this state (the router's start for the first one). */
  since: string;
  /** False while it has kept the state it started with (unknown). */
  changed: boolean;
  /** What decided the state (`active` check, `passive` request, `backoff` over; null: nothing yet) and why. */
  via: HealthEvent['via'] | null;
  reason: string;
  /** The last active check (null: none ran yet, or checks are off). */
  lastCheck: { at: string; ok: boolean; reason: string } | null;
  /** The last request it answered: "last seen". */
  lastAnswer: { at: string; status: number } | null;
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
export function statusSnapshot(sites: readonly Site[], metrics: Metrics, problems: readonly string[], degraded: readonly string[] = []): StatusSnapshot {
  const now = metrics.now();
  const store = metrics.sessions?.status();
  const minutes = metrics.minutes('').length;
  return {
    version: 2,
    now: new Date(now).toISOString(),
    startedAt: new Date(metrics.startedAt).toISOString(),
    uptimeMs: now - metrics.startedAt,
    ready: problems.length === 0,
    problems: [...problems, ...degraded],
    ...(store && { sessions: { ...store, since: new Date(store.since).toISOString() } }),
    window: { minutes, bucketMs: MINUTE_MS },
    sites: sites.map((site) => siteStatus(site, metrics, now)),
    unrouted: metrics.hasSite('') ? requests(metrics, '') : null,
  };
}

function siteStatus(site: Site, metrics: Metrics, now: number): SiteStatus {
  const roles = Object.values(site.pools).map((pool) => ({
    role: pool.role,
    retries: pool.retries,
    servers: [
      ...pool.primaries.map((server) => serverStatus(server, 'primary', now, metrics.startedAt)),
      ...pool.backups.map((server) => serverStatus(server, 'backup', now, metrics.startedAt)),
    ],
  }));
  // As the router decides it (forward/send.ts): a write role with backups whose primaries are all down.
  const writesPaused =
    !site.writeToBackup &&
    Object.values(site.pools).some((pool) => pool.role !== 'read' && pool.backups.length > 0 && !pool.primaries.some((s) => s.available(now)));
  return {
    name: site.name,
    checks: { on: site.health.checks, intervalMs: site.health.intervalMs, path: site.health.path, expected: site.health.expected },
    writeToBackup: site.writeToBackup,
    writesPaused,
    roles,
    inFlight: site.servers.reduce((sum, server) => sum + server.active, 0),
    transfers: metrics.transfers.list(site.name, TRANSFERS_LISTED),
    requests: requests(metrics, site.name),
  };
}

function serverStatus(server: Server, tier: 'primary' | 'backup', now: number, startedAt: number): ServerStatus {
  const record = server.health(now);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    href: withoutUserinfo(server.href),
    tier,
    state: record.state,
    up: record.state === 'up',
    // The first state (unknown) began when the router started.
    since: iso(record.changed ? record.since : startedAt),
    changed: record.changed,
    via: record.via,
    reason: record.reason,
    lastCheck: record.lastCheck && { at: iso(record.lastCheck.at), ok: record.lastCheck.ok, reason: record.lastCheck.reason },
    lastAnswer: record.lastAnswer && { at: iso(record.lastAnswer.at), status: record.lastAnswer.status },
    lastFailure: record.lastFailure && { at: iso(record.lastFailure.at), via: record.lastFailure.via, reason: record.lastFailure.reason },
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
