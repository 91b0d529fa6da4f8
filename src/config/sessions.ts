import { z } from 'zod';
import type { RuntimeName } from './features.ts';
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
  let problem: string | undefined;
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) problem = `${REDIS_FORM}; got ${JSON.stringify(value)}`;
  // `redis:6379` (host and port, no scheme) parses as scheme "redis:" with path "6379".
  else if (!url.hostname)
    problem = `names no host; ${REDIS_FORM}; got ${JSON.stringify(value)}${/^[\w.-]+:\d+$/.test(value) ? ` (add the scheme: "redis://${value}")` : ''}`;
  // The path is the database number (ioredis reads it so); anything else is a typo.
  else if (!/^\/?(\d{1,2})?$/.test(url.pathname))
    problem = `the path is the database number (0-15), e.g. "redis://redis:6379/0"; got ${JSON.stringify(url.pathname)}`;
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
 * `check`'s warning when several workers of `runtime` may each see part of one client's push and no
 * shared store holds the sessions: Bun and Deno spread connections over workers by the kernel's
 * SO_REUSEPORT hash (the client's port in it), so a push's manifest HEAD can land on a worker that
 * never saw the push (config/workers.ts). `workers` is the configured count ("auto": the CPUs).
 */
export function sessionsWarnings(config: { workers?: number | 'auto' | undefined; sessions?: SessionsConfig | undefined }, runtime: RuntimeName): string[] {
  if (config.sessions || runtime === 'worker') return [];
  const count = workerCount(config);
  if (keepsClientOnOneWorker(runtime, count)) return [];
  return [
    `workers: ${count} ${runtime} processes spread one client's connections over several processes, and each keeps its own push ` +
      'sessions: a containerd push of a tag the group already serves can be dropped, and Maven metadata read from the group during a ' +
      'deploy; add "sessions": { "redis": "redis://host:6379/0" } (one Redis shared by every process), or run one worker',
  ];
}
