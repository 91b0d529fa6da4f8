/**
 * Cloudflare Worker adapter (module syntax): `wrangler dev` / `wrangler deploy`, config in the
 * ROUTER_CONFIG var or secret (the same JSON as the config file). The app is built once per
 * isolate; a missing or invalid config answers every request with a 500 naming the problem.
 */
import type { Context, Hono } from 'hono';
import { jsonLinesLog, quietLog } from './access-log.ts';
import { createApp } from './app.ts';
import { workerConfig } from './config/worker.ts';
import { BlobCache, withBlobCacheRules, workerdRuntime } from './edge/blob-cache.ts';
import { errorResponse, formatForPath } from './errors.ts';
import { fetchClient } from './forward/fetch-client.ts';
import { durableSessionStore, type DurableObjectNamespaceLike } from './edge/session-object.ts';
import type { Site } from './site/site.ts';
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
  /** Sites with `blobCache` (src/edge/blob-cache.ts), where the runtime has the Cache API. */
  blobs?: BlobCache;
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
    const options = {
      client,
      clientAddress: (c: Context) => c.req.header('cf-connecting-ip'),
      secret: (name: string) => (typeof secrets[name] === 'string' ? secrets[name] : undefined),
      ...(sessions && { sessionStore: (site: Site, idleMs: number) => durableSessionStore(sessions, site.name, idleMs, site.servers) }),
    };
    const runtime = workerdRuntime();
    if (runtime && config.sites.some((site) => site.blobCache)) {
      // The blob cache's authorization HEADs get rules of their own; its access-log lines say hit or miss.
      const cached = withBlobCacheRules(config);
      const log = cached.accessLog ? jsonLinesLog : quietLog;
      const blobs = new BlobCache(cached, runtime, log);
      return { text, app: createApp(cached, { ...options, log: blobs.accessLog(log) }), blobs };
    }
    const app = appFor(config, options);
    return { text, app };
  } catch (error) {
    const message = String((error as Error).message);
    console.error(`registry-router: ${message}`);
    return { text, error: message };
  }
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    const { app, blobs, error } = built && built.text === env.ROUTER_CONFIG ? built : (built = build(env.ROUTER_CONFIG, env as unknown as Record<string, unknown>));
    if (!app) return errorResponse(formatForPath(new URL(request.url).pathname), 500, 'UNAVAILABLE', `registry-router is not configured: ${error}`);
    const blob = blobs?.plan(request);
    if (blob) return blobs!.serve(blob, request, (sent) => asSent(app.fetch(sent, env, ctx)), (promise) => ctx.waitUntil(promise));
    return asSent(app.fetch(request, env, ctx));
  },
};

/** workerd's pass-through of a declared length (absent elsewhere). */
const FixedLengthStream = (globalThis as { FixedLengthStream?: new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } }).FixedLengthStream;

/**
 * The answer as workerd must send it. A body already encoded as its Content-Encoding says must not
 * be compressed again. A streamed body (the router taps it: a stream made in JavaScript) would go
 * out chunked, without the Content-Length the upstream declared: through a FixedLengthStream of
 * that length it keeps it, and a body that ends short or runs long breaks the transfer instead of
 * ending it as if whole.
 */
async function asSent(response: Response | Promise<Response>): Promise<Response> {
  const sent = await response;
  const encoded = sent.headers.has('content-encoding');
  const declared = sent.headers.get('content-length');
  const sized = sent.body !== null && FixedLengthStream !== undefined && declared !== null && /^\d+$/.test(declared);
  if (!encoded && !sized) return sent;
  let body: ReadableStream<Uint8Array> | null = sent.body;
  if (sized) {
    const { readable, writable } = new FixedLengthStream(Number(declared));
    void sent.body!.pipeTo(writable).catch(() => {});
    body = readable;
  }
  return new Response(body as BodyInit | null, { status: sent.status, statusText: sent.statusText, headers: sent.headers, ...(encoded && { encodeBody: 'manual' }) } as ResponseInit);
}
