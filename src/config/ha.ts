import { z } from 'zod';

/**
 * Config pieces for high availability and observability: upstream pools (primaries + backups),
 * health checks, and the admin listener (`/metrics`, `/healthz`, `/readyz`). Kept apart from
 * schema.ts, which composes them.
 */

const seconds = z.number().positive('must be a positive number of seconds');
const status = z.number().int().min(100).max(599);

/**
 * One upstream URL, or a pool: `{ "servers": [...], "backup": [...] }`. Primaries share the load;
 * backups take over only when no primary is healthy (and take writes only with `writeToBackup`).
 * `url` is the single-URL schema (absolute http(s), no query or fragment); `missing` is the
 * message when the field is not there at all (what the role is for).
 */
export function upstreamPoolSchema<T extends z.ZodType<string, string>>(url: T, missing?: string) {
  return z.union(
    [
      url,
      z
        .strictObject({
          servers: z.array(url).min(1, 'must list at least one primary server'),
          backup: z.array(url).default([]),
        })
        .superRefine((pool, ctx) => {
          const seen = new Set<string>();
          [...pool.servers, ...pool.backup].forEach((href, i) => {
            const key = normalized(href);
            const path = i < pool.servers.length ? ['servers', i] : ['backup', i - pool.servers.length];
            if (seen.has(key)) ctx.addIssue({ code: 'custom', path, message: `${href} is listed twice in this pool` });
            seen.add(key);
          });
        }),
    ],
    {
      error: (issue) =>
        issue.input === undefined && missing ? missing : 'must be a URL ("http://nexus:8082") or a pool { "servers": [URL, …], "backup": [URL, …] }',
    },
  );
}

/** One URL or a pool, as the config says it; site/site.ts and upstream/pool.ts read both forms. */
export type UpstreamPoolConfig = string | { servers: string[]; backup: string[] };

export const poolServers = (pool: UpstreamPoolConfig): { servers: string[]; backup: string[] } =>
  typeof pool === 'string' ? { servers: [pool], backup: [] } : pool;

function normalized(href: string): string {
  try {
    return new URL(href).href.replace(/\/+$/, '');
  } catch {
    return href;
  }
}

/**
 * `health` of a site. Passive: a server that refuses or resets a connection, or answers one of
 * `failStatuses`, is out for `backoff` seconds. Active: every `interval` seconds each server of the
 * site gets `GET <server URL><path>`; an answer in `statuses` within `timeout` brings it back
 * (without `statuses` and `path` on a non-docker site: any answer below 500, upstream/health.ts).
 */
export const healthSchema = z
  .strictObject({
    /** Active checks; default on (off on the Cloudflare worker, which has no timers between requests: config/worker.ts). */
    checks: z.boolean().optional(),
    interval: seconds.default(5),
    timeout: seconds.default(3),
    /** Relative to the server URL (its path prefix included); default `/v2/` on docker sites, `/` otherwise. */
    path: z.string().startsWith('/', 'must start with "/"').optional(),
    /** Healthy answers; default 200 and 401 on docker sites (an auth-protected registry is up), 200–399 otherwise. */
    statuses: z.array(status).min(1).optional(),
    /** Answers that count as a failure of the server (passive check); [] turns that off. */
    failStatuses: z.array(status.min(500, 'must be a 5xx status')).default([502, 503, 504]),
    /** How long a server that failed a request stays out before it is used (or checked back in) again. */
    backoff: seconds.default(10),
  })
  .prefault({});
export type HealthConfig = z.output<typeof healthSchema>;

/** The admin listener: the status page at `/`, `/status.json`, `/metrics`, `/healthz`, `/readyz`. Loopback only unless a host is given. */
export const adminSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9090),
});
export type AdminConfig = z.output<typeof adminSchema>;
