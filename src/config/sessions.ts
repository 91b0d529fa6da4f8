import { z } from 'zod';
import { FORMATS } from '../formats/index.ts';
import type { RuntimeName } from './features.ts';
import type { Config, SiteConfig } from './schema.ts';
import { keepsClientOnOneWorker, workerCount } from './workers.ts';

/**
 * `sessions`: where push sessions (docker) and Maven deploy sessions live when several processes or
 * hosts serve one hostname. Left out: each process keeps its own (src/site/push-sessions.ts). With
 * `redis`: one Redis (or Valkey) shared by every router process (src/site/redis-sessions.ts).
 */

const REDIS_FORM = 'must be a redis:// or rediss:// URL (rediss: TLS), e.g. "redis://redis:6379/0" or "redis://:password@redis:6379/2"';

const redisUrl = z.string().superRefine((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {}
  // `redis:6379` parses as scheme "redis:" with path "6379", `127.0.0.1:6379` not at all: host and port without the scheme.
  const scheme = /^([\w.-]+|\[[\da-fA-F:]+\]):\d+$/.test(value) ? ` (add the scheme: "redis://${value}")` : '';
  let problem: string | undefined;
  if (!url) problem = `${REDIS_FORM}; got ${JSON.stringify(value)}${scheme}`;
  else if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') problem = `${REDIS_FORM}; got ${JSON.stringify(value)}`;
  else if (!url.hostname) problem = `names no host; ${REDIS_FORM}; got ${JSON.stringify(value)}${scheme}`;
  // The path is the database number (ioredis reads it so); anything else is a typo. How many the server has is its
  // `databases` setting (16 by default, may be more): the router SELECTs it and says when the server refuses.
  else if (!/^\/?(\d{1,9})?$/.test(url.pathname))
    problem =
      `the path is the database number (0 to the server's "databases" setting less one; 0-15 by default), e.g. "redis://redis:6379/0"; ` +
      `got ${JSON.stringify(url.pathname)}`;
  else if (url.search || url.hash) problem = `takes no query or fragment; got ${JSON.stringify(value)}`;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** What `timeout` takes, said whenever it is wrong. */
const TIMEOUT = 'must be a whole number of milliseconds from 1 to 5000: the longest a request waits for Redis before it uses its own process';

export const sessionsSchema = z.strictObject({
  /** The Redis (or Valkey) that holds the sessions: `redis://[:password@]host[:port][/db]`, `rediss://` for TLS. */
  redis: redisUrl,
  /** Put before every key (`<keyPrefix><site>:<session key>`): several routers' sets on one Redis keep apart. */
  keyPrefix: z.string().max(200, 'must be at most 200 characters').default('registry-router:'),
  /** Milliseconds a request waits for Redis at most; then it goes on with its own process's sessions. */
  timeout: z.number().int(TIMEOUT).min(1, TIMEOUT).max(5000, TIMEOUT).default(200),
});

export type SessionsConfig = z.output<typeof sessionsSchema>;

/**
 * The names of the sites whose requests use sessions: push sessions on (`pushSessions.idle` > 0) and a rule (the
 * format's or the site's own) that opens or follows one (docker pushes, Maven deploys). NuGet, raw, yum and the
 * other formats have none.
 */
export function sitesWithSessions(config: { sites: ReadonlyArray<Pick<SiteConfig, 'name' | 'preset' | 'rules' | 'pushSessions'>> }): string[] {
  return config.sites
    .filter((site) => site.pushSessions.idle > 0 && [...site.rules, ...FORMATS[site.preset].rules].some((rule) => rule.session))
    .map((site) => site.name);
}

/**
 * The warning of `check` and `serve` when several workers of `runtime` may each see part of one client's push and no
 * shared store holds the sessions: Bun and Deno spread connections over workers by the kernel's
 * SO_REUSEPORT hash (the client's port in it), so a push's manifest HEAD can land on a worker that
 * never saw the push (config/workers.ts). `workers` is the configured count ("auto": the CPUs). None when no
 * site uses sessions, and none for the Cloudflare worker (whose sessions are Durable Objects; see `workersIgnored`).
 */
export function sessionsWarnings(config: Pick<Config, 'workers' | 'sessions' | 'sites'>, runtime: RuntimeName): string[] {
  if (config.sessions || runtime === 'worker') return [];
  const count = workerCount(config);
  if (keepsClientOnOneWorker(runtime, count)) return [];
  const sites = new Set(sitesWithSessions(config));
  if (!sites.size) return [];
  const risks = config.sites
    .filter((site) => sites.has(site.name))
    .map((site) =>
      site.preset === 'docker'
        ? `a containerd push of a tag the group already serves can be dropped (site ${site.name})`
        : site.preset === 'maven'
          ? `Maven metadata can be read from the group during a deploy (site ${site.name})`
          : `a push's requests can go to different upstreams (site ${site.name})`,
    );
  return [
    `workers: ${count} ${runtime} processes spread one client's connections over several processes, and each keeps its own push ` +
      `sessions: ${risks.join('; ')}; add "sessions": { "redis": "redis://host:6379/0" } (one Redis shared by every process), or run one worker`,
  ];
}

/** `check --runtime worker`'s note on `workers`: the platform runs the worker's instances, the field does nothing there. */
export function workersIgnored(config: Pick<Config, 'workers'>, runtime: RuntimeName): string[] {
  if (runtime !== 'worker' || (config.workers ?? 1) === 1) return [];
  return [`workers: ${JSON.stringify(config.workers)} is ignored by the Cloudflare worker (the platform runs its instances); it applies to node, bun and deno`];
}
