/**
 * Cloudflare Worker adapter (module syntax; src/worker.ts is wrangler's `main`): config in the
 * ROUTER_CONFIG var or secret (the same JSON as the config file). The app is built once per
 * isolate and config text; a missing or invalid config answers every request with a 500 naming
 * the problem. Sites with `blobCache` are answered through src/edge/blob-cache.ts first.
 */
import type { Context, Hono } from 'hono';
import { jsonLinesLog, quietLog, type AccessLog } from '../../access-log.ts';
import { createApp } from '../../app.ts';
import { workerConfig } from '../../config/worker.ts';
import { BlobCache, withBlobCacheRules, workerdRuntime } from '../../edge/blob-cache.ts';
import { durableSessionStore, type DurableObjectNamespaceLike } from '../../edge/session-object.ts';
import { errorResponse, formatForPath } from '../../errors.ts';
import type { Site } from '../../site/site.ts';
import { appFor } from '../app.ts';
import { workerClient } from './client.ts';
import { asSent } from './sent.ts';
import type { Env, ExecutionContext } from './types.ts';

/** The Durable Object class that keeps push sessions at the edge (bound as PUSH_SESSIONS in wrangler.toml). */
export { PushSessionObject } from '../../edge/session-object.ts';
export type { Env } from './types.ts';

interface Built {
  text: string | undefined;
  app?: Hono;
  /** Sites with `blobCache` (src/edge/blob-cache.ts), where the runtime has the Cache API. */
  blobs?: BlobCache;
  error?: string;
}
let built: Built | undefined;

function build(text: string | undefined, secrets: Record<string, unknown>): Built {
  try {
    const config = workerConfig(text);
    // Push sessions in a Durable Object when bound (wrangler.toml): requests of one push land on different isolates.
    const sessions = secrets.PUSH_SESSIONS as DurableObjectNamespaceLike | undefined;
    const options = {
      client: workerClient(config.timeouts),
      // Cloudflare sets CF-Connecting-IP on every request that reaches the worker (miniflare too).
      clientAddress: (c: Context) => c.req.header('cf-connecting-ip'),
      secret: (name: string) => (typeof secrets[name] === 'string' ? secrets[name] : undefined),
      ...(sessions && { sessionStore: (site: Site, idleMs: number) => durableSessionStore(sessions, site.name, idleMs, site.servers) }),
    };
    const runtime = workerdRuntime();
    if (runtime && config.sites.some((site) => site.blobCache)) {
      // The blob cache's authorization HEADs get rules of their own; its access-log lines say hit or miss.
      const cached = withBlobCacheRules(config);
      const log = cached.accessLog ? jsonLinesLog : quietLog;
      // The app writes its lines through the cache (their `cache` field), and the cache plans with the
      // app's compiled routing: the log is bound to the cache once both exist.
      let appLog: AccessLog = log;
      const app = createApp(cached, { ...options, log: (entry) => appLog(entry) });
      const blobs = new BlobCache(app.routing, runtime, log);
      appLog = blobs.accessLog(log);
      return { text, app, blobs };
    }
    return { text, app: appFor(config, options) };
  } catch (error) {
    const message = String((error as Error).message);
    console.error(`registry-router: ${message}`);
    return { text, error: message };
  }
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    if (!built || built.text !== env.ROUTER_CONFIG) built = build(env.ROUTER_CONFIG, env as unknown as Record<string, unknown>);
    const { app, blobs, error } = built;
    if (!app) return errorResponse(formatForPath(new URL(request.url).pathname), 500, 'UNAVAILABLE', `registry-router is not configured: ${error}`);
    const send = (sent: Request) => asSent(app.fetch(sent, env, ctx));
    const plan = blobs?.plan(request);
    if (blobs && plan) return blobs.serve(plan, request, send, (promise) => ctx.waitUntil(promise));
    return send(request);
  },
};
