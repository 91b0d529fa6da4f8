import { Hono } from 'hono';
import type { Metrics } from './metrics.ts';
import type { Site } from '../site/site.ts';
import { STATUS_PAGE, statusPagePolicy } from './page.ts';
import { statusSnapshot, withoutUserinfo } from './snapshot.ts';
import type { Pool, Server } from '../upstream/pool.ts';

/** What the admin listener serves (listed in its 404 answer). */
export const ADMIN_ENDPOINTS = ['/', '/status.json', '/metrics', '/healthz', '/readyz'] as const;

/**
 * The admin app: `/` (a status page that polls `/status.json`: sites, upstream health, transfers in
 * flight, recent requests), `/metrics` (Prometheus text), `/healthz` (the process answers),
 * `/readyz` (no site has a role whose every server is known down; see `readiness`). Served on its own
 * listener (`admin` in the config, loopback by default), never by the sites' app: no Host can reach
 * it through the proxy port. Read-only: nothing here changes the router's state.
 */
export function createAdminApp(sites: readonly Site[], metrics: Metrics): Hono {
  const admin = new Hono();
  // Answered requests tell their servers they are up (passive evidence, see Metrics.watch).
  metrics.watch(sites);
  admin.get('/', () => statusPageResponse());
  admin.get('/status.json', () => json(200, statusSnapshot(sites, metrics, readiness(sites), sessionsProblems(metrics))));
  admin.get(
    '/metrics',
    () => new Response(metrics.render(sites), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' } }),
  );
  admin.get('/healthz', () => json(200, { status: 'live' }));
  admin.get('/readyz', () => {
    const now = Date.now();
    const problems = readiness(sites, now);
    // Listed, but the router stays ready: every router shares the store, and dropping them all from
    // the balancer for it would turn lost sessions into an outage (requests still route without it).
    const degraded = sessionsProblems(metrics);
    const status = problems.length ? 'not ready' : 'ready';
    return json(problems.length ? 503 : 200, { status, problems: [...problems, ...degraded], sites: sites.map((site) => readyzSite(site, now)) });
  });
  admin.all('*', () => json(404, { status: 'not found', endpoints: ADMIN_ENDPOINTS }));
  return admin;
}

let policy: Promise<string> | undefined;

/** `GET /` of the admin listener: the status page, which polls `/status.json`. */
export async function statusPageResponse(): Promise<Response> {
  return new Response(STATUS_PAGE, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': await (policy ??= statusPagePolicy()),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    },
  });
}

/**
 * Why the router is not ready, one line per site and role; empty when it is. Not ready means known
 * not to work: every server a role may use is down. A server nobody has checked yet is `unknown`,
 * which counts as usable (requests go there), so a router is ready until something is seen
 * failing; with active checks (the default) that takes one check. A checked server that is out
 * only for a failed request's back-off while its checks pass (say one 502 from a Nexus whose proxy
 * remote failed) still counts: it answers, and a balancer dropping every router for one bad
 * answer would turn a failed artifact into an outage.
 */
export function readiness(sites: readonly Site[], now = Date.now()): string[] {
  const problems: string[] = [];
  const dead = (server: Server) => {
    const health = server.health(now);
    return health.state === 'down' && !(server.checked && health.lastCheck?.ok);
  };
  const usable = (pool: Pool, backups: boolean) => pool.primaries.some((s) => !dead(s)) || (backups && pool.backups.some((s) => !dead(s)));
  for (const site of sites) {
    for (const pool of Object.values(site.pools)) {
      // Every role but read takes writes: backups count for it only when writes may go there.
      if (pool.role === 'read') {
        if (!usable(pool, true)) problems.push(`site ${site.name}: no healthy read upstream`);
      } else if (!usable(pool, site.writeToBackup)) {
        const paused = pool.backups.length && !site.writeToBackup ? ' (writes are paused; backups take reads only)' : '';
        problems.push(`site ${site.name}: no healthy ${pool.role} upstream${paused}`);
      }
    }
  }
  return problems;
}

/** The shared sessions store away: one line (none without a store, or while it is up). */
export function sessionsProblems(metrics: Pick<Metrics, 'sessions'>): string[] {
  const store = metrics.sessions?.status();
  if (!store || store.up) return [];
  return [
    `sessions: ${store.store} store ${store.url} is away since ${new Date(store.since).toISOString()} (${store.reason}); ` +
      `push sessions are kept in each process meanwhile (${store.fallbacks} calls so far)`,
  ];
}

/** What /readyz says about a site: how its health is known, and each server's state with its evidence. */
function readyzSite(site: Site, now: number) {
  const roles = (server: Server) =>
    Object.values(site.pools).flatMap((pool) =>
      pool.primaries.includes(server) ? [pool.role] : pool.backups.includes(server) ? [`${pool.role} (backup)`] : [],
    );
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    name: site.name,
    checks: site.health.checks
      ? `active: GET ${site.health.path} every ${site.health.intervalMs / 1000} s (up: ${site.health.expected}), and failed requests`
      : 'passive only: failed and answered requests (health.checks is false)',
    servers: site.servers.map((server) => {
      const record = server.health(now);
      return {
        upstream: withoutUserinfo(server.href),
        roles: roles(server),
        state: record.state,
        since: iso(record.since),
        via: record.via,
        reason: record.reason,
        lastCheck: record.lastCheck && { at: iso(record.lastCheck.at), ok: record.lastCheck.ok, reason: record.lastCheck.reason },
        lastAnswer: record.lastAnswer && { at: iso(record.lastAnswer.at), status: record.lastAnswer.status },
      };
    }),
  };
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
  });
