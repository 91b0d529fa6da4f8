/**
 * `check --probe`: one `GET <server><health path>` (the format's: `/v2/` on docker sites, `/` otherwise,
 * src/formats/; or the site's `health.path`) to every server of every role of every site, through the upstream client
 * the runtime forwards with, so what it reports is what requests would meet: the status and whether
 * it counts as healthy (`health.statuses`), or why there was no answer (connection refused, name
 * not found, timed out, TLS/scheme mismatch, reset: forward/net-errors.ts).
 */
import { drain } from '../stream/drain.ts';
import type { Config } from '../config/schema.ts';
import type { UpstreamClient } from '../forward/client.ts';
import { compileSite } from '../site/site.ts';
import type { Server } from '../upstream/pool.ts';
import type { Output } from './program.ts';

interface ProbedServer {
  site: string;
  roles: string[];
  server: Server;
  path: string;
  healthy: (status: number) => boolean;
  expected: string;
}

/** Probes all servers at once; prints one line each, in config order. True when every one answered healthy. */
export async function probeUpstreams(config: Config, client: UpstreamClient, output: Output): Promise<boolean> {
  const targets: ProbedServer[] = [];
  for (const siteConfig of config.sites) {
    const site = compileSite(siteConfig);
    const byServer = new Map<Server, ProbedServer>();
    for (const [role, pool] of Object.entries(site.pools)) {
      for (const server of [...pool.primaries, ...pool.backups]) {
        const known = byServer.get(server);
        const label = pool.backups.includes(server) ? `${role} (backup)` : role;
        if (known) {
          known.roles.push(label);
          continue;
        }
        const target: ProbedServer = {
          site: site.name,
          roles: [label],
          server,
          path: site.health.path,
          healthy: site.health.healthy,
          // The format's health path and statuses unless the site names its own (upstream/health.ts).
          expected: site.health.healthyText,
        };
        byServer.set(server, target);
        targets.push(target);
      }
    }
  }
  const timeoutMs = Math.max(config.timeouts.connect, 1) * 1000 + 2000;
  const results = await Promise.all(targets.map((target) => probeOne(target, client, timeoutMs)));
  // Keep-alive sockets would hold the process; it ends right after anyway.
  void client.close?.().catch(() => {});
  const width = Math.max(...targets.map((t) => `${t.site} ${t.roles.join('+')}`.length), 0);
  results.forEach((result, i) => {
    const target = targets[i]!;
    output.out(`probe ${`${target.site} ${target.roles.join('+')}`.padEnd(width)}  GET ${target.server.upstream.target(target.path)}  ${result.line}\n`);
  });
  return results.every((result) => result.ok);
}

async function probeOne(target: ProbedServer, client: UpstreamClient, timeoutMs: number): Promise<{ ok: boolean; line: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('probe timed out')), timeoutMs);
  const started = Date.now();
  try {
    const response = await client.send({
      url: target.server.upstream.target(target.path),
      method: 'GET',
      headers: new Headers({ 'user-agent': 'registry-router-check', accept: 'application/json, */*' }),
      body: null,
      signal: controller.signal,
    });
    const ms = Date.now() - started;
    // Read, not cancelled: cancelling Node's web stream over undici's body as data arrives throws (Node 20).
    await drain(response.body, 64 * 1024);
    const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    if (target.healthy(response.status)) return { ok: true, line: `→ ${status} (healthy) in ${ms} ms` };
    const hint = response.status === 404 ? "; is the URL the repository's root (path prefix) and the health path right?" : '';
    return { ok: false, line: `→ ${status}: not healthy (expected ${target.expected})${hint}` };
  } catch (error) {
    if (controller.signal.aborted) return { ok: false, line: `→ no answer: timed out after ${timeoutMs / 1000} s` };
    return { ok: false, line: `→ no answer: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}
