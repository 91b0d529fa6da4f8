/**
 * Cloudflare Worker adapter (module syntax): `wrangler dev` / `wrangler deploy`, config in the
 * ROUTER_CONFIG var or secret (the same JSON as the config file). The app is built once per
 * isolate; a missing or invalid config answers every request with a 500 naming the problem.
 */
import type { Hono } from 'hono';
import { workerConfig } from './config/worker.ts';
import { errorResponse, formatForPath } from './errors.ts';
import { fetchClient } from './forward/fetch-client.ts';
import { durableSessionStore, type DurableObjectNamespaceLike } from './edge/session-object.ts';
import { appFor } from './start.ts';

/** The Durable Object class that keeps push sessions at the edge (bound as PUSH_SESSIONS in wrangler.toml). */
export { PushSessionObject } from './edge/session-object.ts';

export interface Env {
  ROUTER_CONFIG?: string;
}

/** Workers' ExecutionContext, as Hono types it (no @cloudflare/workers-types for one file). */
type ExecutionContext = NonNullable<Parameters<Hono['fetch']>[2]>;

interface Built {
  text: string | undefined;
  app?: Hono;
  error?: string;
}
let built: Built | undefined;

function build(text: string | undefined, secrets: Record<string, unknown>): Built {
  try {
    const config = workerConfig(text);
    // workerd's fetch decodes gzip/br bodies and re-encodes on the way out: 'manual' keeps the bytes.
    const client = fetchClient(config.timeouts, { init: { encodeResponseBody: 'manual' } });
    // Cloudflare sets CF-Connecting-IP on every request that reaches the worker (miniflare too).
    // Push sessions in a Durable Object when bound (wrangler.toml): requests of one push land on different isolates.
    const sessions = secrets.PUSH_SESSIONS as DurableObjectNamespaceLike | undefined;
    const app = appFor(config, {
      client,
      clientAddress: (c) => c.req.header('cf-connecting-ip'),
      secret: (name) => (typeof secrets[name] === 'string' ? secrets[name] : undefined),
      ...(sessions && { sessionStore: (site, idleMs) => durableSessionStore(sessions, site.name, idleMs, site.servers) }),
    });
    return { text, app };
  } catch (error) {
    const message = String((error as Error).message);
    console.error(`registry-router: ${message}`);
    return { text, error: message };
  }
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    const { app, error } = built && built.text === env.ROUTER_CONFIG ? built : (built = build(env.ROUTER_CONFIG, env as unknown as Record<string, unknown>));
    if (!app) return errorResponse(formatForPath(new URL(request.url).pathname), 500, 'UNAVAILABLE', `registry-router is not configured: ${error}`);
    return asSent(app.fetch(request, env, ctx));
  },
};

/** The body is already encoded as its Content-Encoding says: workerd must not compress it again. */
async function asSent(response: Response | Promise<Response>): Promise<Response> {
  const sent = await response;
  if (!sent.headers.has('content-encoding')) return sent;
  return new Response(sent.body, { status: sent.status, headers: sent.headers, encodeBody: 'manual' } as ResponseInit);
}
