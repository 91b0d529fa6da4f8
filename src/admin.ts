import { Hono } from 'hono';
import type { Metrics } from './metrics.ts';
import type { Site } from './site/site.ts';
import { STATUS_PAGE, statusPagePolicy } from './status/page.ts';
import { statusSnapshot } from './status/snapshot.ts';

/** What the admin listener serves (listed in its 404 answer). */
export const ADMIN_ENDPOINTS = ['/', '/status.json', '/metrics', '/healthz', '/readyz'] as const;

/**
 * The admin app: `/` (a status page that polls `/status.json`: sites, upstream health, transfers in
 * flight, recent requests), `/metrics` (Prometheus text), `/healthz` (the process answers),
 * `/readyz` (every site has a healthy server for reads and one it may write to). Served on its own
 * listener (`admin` in the config, loopback by default), never by the sites' app: no Host can reach
 * it through the proxy port. Read-only: nothing here changes the router's state.
 */
export function createAdminApp(sites: readonly Site[], metrics: Metrics): Hono {
  const admin = new Hono();
  // The status page's health history: chained in front of whatever logs the changes (the app set
  // `onChange` before creating this app, and the first checks run on a later tick).
  metrics.health.attach(sites.flatMap((site) => site.servers));
  let policy: Promise<string> | undefined;
  admin.get('/', async () =>
    new Response(STATUS_PAGE, {
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': await (policy ??= statusPagePolicy()),
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      },
    }),
  );
  admin.get('/status.json', () => json(200, statusSnapshot(sites, metrics, readiness(sites))));
  admin.get('/metrics', () =>
    new Response(metrics.render(sites), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' } }),
  );
  admin.get('/healthz', () => json(200, { status: 'live' }));
  admin.get('/readyz', () => {
    const problems = readiness(sites);
    return json(problems.length ? 503 : 200, { status: problems.length ? 'not ready' : 'ready', problems });
  });
  admin.all('*', () => json(404, { status: 'not found', endpoints: ADMIN_ENDPOINTS }));
  return admin;
}

/** Why the router is not ready, one line per site and role; empty when it is. */
export function readiness(sites: readonly Site[], now = Date.now()): string[] {
  const problems: string[] = [];
  for (const site of sites) {
    for (const pool of Object.values(site.pools)) {
      // Every role but read takes writes: backups count for it only when writes may go there.
      if (pool.role === 'read') {
        if (!pool.ready(true, now)) problems.push(`site ${site.name}: no healthy read upstream`);
      } else if (!pool.ready(site.writeToBackup, now)) {
        problems.push(`site ${site.name}: no healthy ${pool.role} upstream${pool.backups.length && !site.writeToBackup ? ' (writes are paused; backups take reads only)' : ''}`);
      }
    }
  }
  return problems;
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
  });
