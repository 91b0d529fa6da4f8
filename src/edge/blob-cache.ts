/**
 * Blob cache at the edge (`"blobCache": true` on a worker's docker site). `GET /v2/<name>/blobs/
 * sha256:<hex>` is answered from the Workers Cache API when the data centre holds that blob; blobs
 * are immutable by digest, so one copy serves every repository and every user of the site: the
 * key is the site and the digest, never the credentials or the repository.
 *
 * Authorization stays with Nexus. On a hit the worker first asks the origin, through the app itself
 * (same routing, mapping and access log), `HEAD` of that very URL with the client's own headers:
 * cached bytes go out only when that answer is 200 (a 304 goes out as it is); anything else and the
 * `GET` goes to the origin exactly as without a cache, so a 401/403/404 reaches the client with the
 * origin's own body and challenge.
 *
 * The check must go where the `GET` goes (the group), not where the docker preset sends a client's
 * blob `HEAD` (hosted, opening a push session: see rules/presets.ts). `withBlobCacheRules` gives
 * each blob-cache site rules, first in line, that send a `HEAD` carrying `CACHE_CHECK_PARAM` to the
 * role named in the parameter, unpinned or pinned, without a session; the worker names the role
 * (and pinning) of the site's rule for the `GET`. A client sending that parameter itself only gets
 * a read-side `HEAD`, which its `GET` would get anyway.
 *
 * On a miss the body streams to the client and into the cache at once, at the pace of the slower
 * of the two (no tee: a tee buffers whatever one branch has not read yet), hashed as it passes
 * (workerd's `crypto.DigestStream`). An entry becomes visible only through a small *marker* entry,
 * written after the whole body was stored and its sha256 and length matched; the bytes themselves
 * go under a fresh name per fill. A fill that fails or does not match is never pointed at
 * (miniflare's local cache keeps even an aborted `cache.put`, truncated: measured), and is deleted.
 * Only whole `200` answers with a Content-Length of at most MAX_CACHED_BLOB and no Content-Encoding
 * are stored.
 */
import { entryFor, type AccessEntry, type AccessLog } from '../access-log.ts';
import type { Config, RuleConfig, SiteConfig } from '../config/schema.ts';
import type { Routing } from '../decision.ts';
import type { Site } from '../site/site.ts';
import { chunkReader, tapStream } from '../stream/tap.ts';

/** The query parameter that marks the cache's own authorization `HEAD` (see withBlobCacheRules). */
export const CACHE_CHECK_PARAM = 'registry-router-cache-check';
/** The Cache API's object size limit (5 GB on Enterprise; 512 MB everywhere else): bigger blobs stream through uncached. */
export const MAX_CACHED_BLOB = 512 * 1024 * 1024;
/** How long a stored blob may stay (the data centre evicts unused objects long before). */
const CACHE_CONTROL = 'max-age=31536000';
/** How long the end of a filling transfer waits for the cache to confirm before the client gets its last byte anyway. */
const COMMIT_WAIT_MS = 10_000;

/** Bounds on the outcomes waiting for their access-log line (see BlobCache.accessLog). */
const MAX_PENDING_PER_KEY = 16;
const MAX_PENDING_KEYS = 4096;

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/sha256:([0-9a-f]{64})$/;

/** What the access log says about a request the cache saw (the `cache` field). */
export type CacheOutcome =
  /** Served from the cache after the origin answered the check with 200. */
  | 'hit'
  /** Not in the cache (or the check was not a 200): the origin answered; a whole 200 was stored. */
  | 'miss'
  /** Over MAX_CACHED_BLOB: streamed through, not stored. */
  | 'bypass'
  /** The authorization `HEAD` the cache sent through the app before a hit. */
  | 'check';

export type CacheAccessEntry = AccessEntry & { cache?: CacheOutcome };

/** The parts of the Cache API used here (`caches.default`). */
export interface CacheLike {
  match(request: Request | string): Promise<Response | undefined>;
  put(request: Request | string, response: Response): Promise<void>;
  delete(request: Request | string): Promise<boolean>;
}

/** A writable that hashes what is written to it, like workerd's `crypto.DigestStream`. */
export type DigestSink = WritableStream<Uint8Array> & { readonly digest: Promise<ArrayBuffer> };

/** What the cache needs from the runtime: workerd's, or stand-ins in tests. */
export interface BlobCacheRuntime {
  cache: CacheLike;
  /** A SHA-256 DigestStream. */
  digest(): DigestSink;
  /** A pass-through of exactly `length` bytes, so the cache gets a body of known length (workerd's FixedLengthStream). */
  fixedLength(length: number): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
  /** Keeps the isolate alive until the promise settles (ctx.waitUntil). */
  waitUntil?(promise: Promise<unknown>): void;
}

/** workerd's Cache API, DigestStream and FixedLengthStream, or undefined where one is missing. */
export function workerdRuntime(): Omit<BlobCacheRuntime, 'waitUntil'> | undefined {
  const g = globalThis as unknown as {
    caches?: { default?: CacheLike };
    crypto?: { DigestStream?: new (algorithm: string) => DigestSink };
    FixedLengthStream?: new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
  };
  const cache = g.caches?.default;
  const DigestStream = g.crypto?.DigestStream;
  const FixedLengthStream = g.FixedLengthStream;
  if (!cache || !DigestStream || !FixedLengthStream) return undefined;
  return { cache, digest: () => new DigestStream('SHA-256'), fixedLength: (length) => new FixedLengthStream(length) };
}

/**
 * The config with, on each blob-cache site, the rules that route the cache's authorization `HEAD`
 * (`?registry-router-cache-check=<role>` or `<role>.pinned`) to that role, before the site's own
 * rules and the preset's. Sites without `blobCache` are left as they are.
 */
export function withBlobCacheRules(config: Config): Config {
  if (!config.sites.some((site) => site.blobCache)) return config;
  return {
    ...config,
    sites: config.sites.map((site) => {
      if (!site.blobCache) return site;
      const roles = new Set(['read', 'write', ...Object.keys(site.upstreams ?? {})]);
      const rules: RuleConfig[] = [...roles].flatMap((role) => [
        { methods: ['HEAD'], path: '/v2/**/blobs/*', query: { [CACHE_CHECK_PARAM]: role }, to: role },
        { methods: ['HEAD'], path: '/v2/**/blobs/*', query: { [CACHE_CHECK_PARAM]: `${role}.pinned` }, to: role, pin: true },
      ]);
      return { ...site, rules: [...rules, ...site.rules] };
    }),
  };
}

/** A request the cache will answer or fill. */
export interface BlobPlan {
  readonly site: Site;
  readonly hex: string;
  /** The marker entry's key: which stored copy of the blob is whole and verified. */
  readonly markerKey: string;
  /** The value of CACHE_CHECK_PARAM for the authorization HEAD: the GET's role, `.pinned` if its rule pins. */
  readonly check: string;
}

/** One site's part of the key space: `https://<its first host>/.registry-router/blob-cache/<site>`. */
function keyBase(config: SiteConfig): string {
  const first = config.hosts[0]!.replace(/^\*\./, '');
  const host = first.startsWith('[') ? first.slice(0, first.indexOf(']') + 1) : first.replace(/:\d+$/, '');
  let base = `https://${host}`;
  try {
    base = new URL(base).origin;
  } catch {
    base = 'https://blob-cache.invalid';
  }
  return `${base}/.registry-router/blob-cache/${encodeURIComponent(config.name)}`;
}

const toHex = (digest: ArrayBuffer) => [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
const noop = () => {};

export class BlobCache {
  readonly #routing: Routing;
  /** Each blob-cache site's part of the key space. */
  readonly #bases: ReadonlyMap<Site, string>;
  readonly #runtime: Omit<BlobCacheRuntime, 'waitUntil'>;
  readonly #log: AccessLog;
  /** Outcomes of requests sent through the app, waiting for the app's access-log line (see accessLog). */
  readonly #pending = new Map<string, Array<{ outcome: CacheOutcome }>>();

  /**
   * `routing`: the app's own (`app.routing`, compiled from the config withBlobCacheRules returned),
   * so the cache decides as the app does, on the app's site objects. `log` is where the cache's own lines (hits) go.
   */
  constructor(routing: Routing, runtime: Omit<BlobCacheRuntime, 'waitUntil'>, log: AccessLog) {
    this.#routing = routing;
    this.#bases = new Map(
      routing.sites.flatMap((site) => {
        const config = routing.configOf(site);
        return config.blobCache ? [[site, keyBase(config)] as const] : [];
      }),
    );
    this.#runtime = runtime;
    this.#log = log;
  }

  /** The plan for `request`, or undefined when the cache has no part in it (the app answers as usual). */
  plan(request: Request): BlobPlan | undefined {
    if (request.method !== 'GET') return undefined;
    const url = new URL(request.url);
    if (url.search) return undefined;
    const match = BLOB_PATH.exec(url.pathname);
    if (!match) return undefined;
    // What the app would do with it: only a plain read of a role (never a deny, a local answer or a push session's).
    // The guard is the app's: this request, and the check made of it, go through the app.
    const decision = this.#routing.decide({
      method: 'GET',
      url,
      headers: request.headers,
      client: request.headers.get('cf-connecting-ip') ?? '',
      guard: false,
    });
    if (decision.kind !== 'forward' || !decision.rule || decision.rule.session || !(decision.role in decision.site.upstreams)) return undefined;
    const base = this.#bases.get(decision.site);
    if (base === undefined) return undefined;
    const check = decision.pinned ? `${decision.role}.pinned` : decision.role;
    return { site: decision.site, hex: match[2]!, markerKey: `${base}/sha256:${match[2]}`, check };
  }

  /**
   * The app's access log with the `cache` field on the lines of requests the cache sent through
   * the app: each line is matched to its request by method, host, path and client address.
   */
  accessLog(inner: AccessLog): AccessLog {
    return (entry) => {
      const key = pendingKey(entry.method, entry.host, entry.path, entry.client);
      const queue = this.#pending.get(key);
      const record = queue?.shift();
      if (queue && queue.length === 0) this.#pending.delete(key);
      inner(record ? withOutcome(entry, record.outcome) : entry);
    };
  }

  #track(method: string, request: Request, outcome: CacheOutcome): { outcome: CacheOutcome; forget(): void } {
    const url = new URL(request.url);
    const key = pendingKey(method, url.host, url.pathname, request.headers.get('cf-connecting-ip') ?? '');
    const record = { outcome };
    const queue = this.#pending.get(key) ?? [];
    // A line that never comes (local workerd writes none for a download the client hung up on)
    // must not pile up: a few per key, and so many keys, at most.
    if (queue.length >= MAX_PENDING_PER_KEY) queue.shift();
    queue.push(record);
    if (!this.#pending.has(key) && this.#pending.size >= MAX_PENDING_KEYS) this.#pending.delete(this.#pending.keys().next().value!);
    this.#pending.set(key, queue);
    return Object.assign(record, {
      forget: () => {
        const at = queue.indexOf(record);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0 && this.#pending.get(key) === queue) this.#pending.delete(key);
      },
    });
  }

  /**
   * Answers a planned request: from the cache after the origin said 200 to the check, otherwise
   * through `app` (the router as usual), storing a whole, verified 200 on the way.
   */
  async serve(
    plan: BlobPlan,
    request: Request,
    app: (request: Request) => Promise<Response>,
    waitUntil: (promise: Promise<unknown>) => void,
  ): Promise<Response> {
    const started = Date.now();
    const marker = await this.#marker(plan);
    if (marker) {
      const check = await this.#through(app, this.#checkRequest(plan, request), 'HEAD', 'check');
      void check.body?.cancel().catch(noop);
      if (check.status === 304) return check;
      const declared = check.headers.get('content-length');
      if (check.status === 200 && (declared === null || Number(declared) === marker.length)) {
        const range = request.headers.get('range');
        const cached = await this.#runtime.cache
          .match(new Request(`${plan.markerKey}/${marker.data}`, { headers: range ? { range } : {} }))
          .catch(() => undefined);
        if (cached) return this.#hit(plan, request, check, cached, started);
      }
    }
    return this.#miss(plan, request, app, waitUntil);
  }

  /** Which stored copy is whole and verified, if any. */
  async #marker(plan: BlobPlan): Promise<{ data: string; length: number } | undefined> {
    try {
      const response = await this.#runtime.cache.match(plan.markerKey);
      if (!response) return undefined;
      const marker = (await response.json()) as { data?: unknown; length?: unknown };
      if (typeof marker.data !== 'string' || !/^[0-9a-f-]{36}$/.test(marker.data)) return undefined;
      if (typeof marker.length !== 'number' || !Number.isSafeInteger(marker.length) || marker.length < 0) return undefined;
      return { data: marker.data, length: marker.length };
    } catch {
      return undefined;
    }
  }

  /** `HEAD` of the same URL with the client's headers (its credentials), marked for the check rules; no Range (the cache answers that). */
  #checkRequest(plan: BlobPlan, request: Request): Request {
    const url = new URL(request.url);
    url.searchParams.set(CACHE_CHECK_PARAM, plan.check);
    const headers = new Headers(request.headers);
    headers.delete('range');
    headers.delete('if-range');
    return new Request(url, { method: 'HEAD', headers, signal: request.signal });
  }

  /** The check through the app, which writes its line before it answers (a HEAD has no body to wait for). */
  async #through(app: (request: Request) => Promise<Response>, request: Request, method: string, outcome: CacheOutcome): Promise<Response> {
    const record = this.#track(method, request, outcome);
    try {
      return await app(request);
    } finally {
      record.forget();
    }
  }

  /** Cached bytes with the headers the origin gave this client for the check (type, digest, ETag), the cache's length and range. */
  #hit(plan: BlobPlan, request: Request, check: Response, cached: Response, started: number): Response {
    const headers = new Headers(check.headers);
    headers.delete('content-length');
    const length = cached.headers.get('content-length');
    if (length !== null) headers.set('content-length', length);
    const status = cached.status === 206 || cached.status === 416 ? cached.status : 200;
    if (status !== 200) {
      const contentRange = cached.headers.get('content-range');
      if (contentRange !== null) headers.set('content-range', contentRange);
      // Several ranges come back as multipart/byteranges.
      const type = cached.headers.get('content-type');
      if (type?.startsWith('multipart/')) headers.set('content-type', type);
    }
    const url = new URL(request.url);
    const log = (bytesOut: number, error?: unknown) => {
      const entry: AccessEntry = {
        ...entryFor(url, request.method, started, status, request.headers.get('cf-connecting-ip') ?? '', null),
        site: plan.site.name,
        role: 'cache',
        bytesOut,
        ...(error !== undefined && { error: `response body: ${String((error as Error)?.message ?? error)}` }),
      };
      this.#log(withOutcome(entry, 'hit'));
    };
    if (status === 416 || !cached.body) {
      void cached.body?.cancel().catch(noop);
      log(0);
      return new Response(null, { status, headers });
    }
    let bytesOut = 0;
    const body = tapStream(cached.body, { onChunk: (_chunk, total) => (bytesOut = total), onEnd: (error) => log(bytesOut, error) });
    return new Response(this.#sized(body, length), { status, headers });
  }

  async #miss(
    plan: BlobPlan,
    request: Request,
    app: (request: Request) => Promise<Response>,
    waitUntil: (promise: Promise<unknown>) => void,
  ): Promise<Response> {
    const record = this.#track('GET', request, 'miss');
    let response: Response;
    try {
      response = await app(request);
    } catch (error) {
      record.forget();
      throw error;
    }
    const declared = response.headers.get('content-length');
    if (
      response.status !== 200 ||
      !response.body ||
      request.headers.has('range') ||
      response.headers.has('content-encoding') ||
      declared === null ||
      !/^\d+$/.test(declared)
    ) {
      return response;
    }
    const length = Number(declared);
    if (length > MAX_CACHED_BLOB) {
      // Its log line is written when the body is done, so the outcome can still change.
      record.outcome = 'bypass';
      return response;
    }
    const fill = new Fill(this.#runtime, plan, length, waitUntil);
    return new Response(this.#sized(fill.pass(response.body), declared), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  /** A stream made here goes out chunked unless it is of known length: with its Content-Length, as the origin sent it. */
  #sized(body: ReadableStream<Uint8Array>, length: string | null): ReadableStream<Uint8Array> {
    if (length === null || !/^\d+$/.test(length)) return body;
    const { readable, writable } = this.#runtime.fixedLength(Number(length));
    void body.pipeTo(writable).catch(noop);
    return readable;
  }
}

/** The entry with its `cache` field (AccessEntry does not declare it yet: an extra field of the JSON line). */
function withOutcome(entry: AccessEntry, cache: CacheOutcome): AccessEntry {
  const annotated: CacheAccessEntry = { ...entry, cache };
  return annotated;
}

function pendingKey(method: string, host: string, path: string, client: string): string {
  return `${method} ${host} ${path} ${client}`;
}

/**
 * One blob on its way into the cache while it streams to the client: under a fresh name, hashed as
 * it passes; the marker that makes it visible is written only once it is whole and its sha256 and
 * length match. Any failure abandons it: the partial entry is deleted and never pointed at.
 */
class Fill {
  readonly #cache: CacheLike;
  readonly #plan: BlobPlan;
  readonly #length: number;
  readonly #waitUntil: (promise: Promise<unknown>) => void;
  readonly #data: string;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #hasher: WritableStreamDefaultWriter<Uint8Array>;
  readonly #digest: Promise<ArrayBuffer>;
  readonly #put: Promise<void>;
  #bytes = 0;
  #state: 'filling' | 'committing' | 'done' | 'abandoned' = 'filling';

  constructor(runtime: Omit<BlobCacheRuntime, 'waitUntil'>, plan: BlobPlan, length: number, waitUntil: (promise: Promise<unknown>) => void) {
    this.#cache = runtime.cache;
    this.#plan = plan;
    this.#length = length;
    this.#waitUntil = waitUntil;
    this.#data = crypto.randomUUID();
    const { readable, writable } = runtime.fixedLength(length);
    this.#writer = writable.getWriter();
    this.#writer.closed.catch(noop);
    const hasher = runtime.digest();
    this.#digest = hasher.digest;
    this.#digest.catch(noop);
    this.#hasher = hasher.getWriter();
    this.#hasher.closed.catch(noop);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(length), 'cache-control': CACHE_CONTROL };
    this.#put = this.#cache.put(this.#dataKey, new Response(readable, { headers }));
    this.#put.catch((error: unknown) => this.abandon(`the cache refused it: ${String((error as Error)?.message ?? error)}`));
    // The isolate stays until the entry is stored or removed.
    waitUntil(this.#put.catch(noop));
  }

  get #dataKey(): string {
    return `${this.#plan.markerKey}/${this.#data}`;
  }

  /** The body for the client: each chunk goes to the cache and the hash too, at the pace of the slower. */
  pass(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = chunkReader(source);
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          let read: ReadableStreamReadResult<Uint8Array>;
          try {
            read = await reader.read();
            while (!read.done && read.value.byteLength === 0) read = await reader.read();
          } catch (error) {
            this.abandon('the origin broke off');
            controller.error(error);
            return;
          }
          if (read.done) {
            await this.#finish();
            controller.close();
            return;
          }
          const stored = this.#write(read.value);
          controller.enqueue(read.value);
          await stored;
        },
        cancel: (reason) => {
          this.abandon('the client went away');
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'filling') return;
    this.#bytes += chunk.byteLength;
    try {
      await Promise.all([this.#hasher.write(chunk), this.#writer.write(chunk)]);
    } catch (error) {
      this.abandon(`writing to the cache failed: ${String((error as Error)?.message ?? error)}`);
    }
  }

  /** At the end of the body: verified and committed before the client gets its end (bounded), the rest in waitUntil. */
  async #finish(): Promise<void> {
    if (this.#state !== 'filling') return;
    const committed = this.#commit();
    this.#waitUntil(committed);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([committed, new Promise<void>((resolve) => (timer = setTimeout(resolve, COMMIT_WAIT_MS)))]);
    clearTimeout(timer);
  }

  async #commit(): Promise<void> {
    try {
      await this.#hasher.close();
      const hex = toHex(await this.#digest);
      if (this.#bytes !== this.#length) return this.abandon(`the origin sent ${this.#bytes} bytes, its Content-Length said ${this.#length}`);
      if (hex !== this.#plan.hex) return this.abandon(`the bytes the origin sent hash to sha256:${hex}`, true);
      if (this.#state !== 'filling') return;
      this.#state = 'committing';
      await this.#writer.close();
      await this.#put;
      const marker = JSON.stringify({ data: this.#data, length: this.#length });
      await this.#cache.put(this.#plan.markerKey, new Response(marker, { headers: { 'content-type': 'application/json', 'cache-control': CACHE_CONTROL } }));
      this.#state = 'done';
    } catch (error) {
      this.abandon(`storing it failed: ${String((error as Error)?.message ?? error)}`);
    }
  }

  /** Drops this fill: the cache write is aborted and whatever it stored is deleted (no marker points at it). */
  abandon(reason: string, loud = false): void {
    if (this.#state === 'done' || this.#state === 'abandoned') return;
    this.#state = 'abandoned';
    if (loud) console.error(`registry-router: blob cache: not storing sha256:${this.#plan.hex} of site ${this.#plan.site.name}: ${reason}`);
    const error = new Error(reason);
    void this.#writer.abort(error).catch(noop);
    void this.#hasher.abort(error).catch(noop);
    this.#waitUntil(
      this.#put
        .catch(noop)
        .then(() => this.#cache.delete(this.#dataKey))
        .catch(noop),
    );
  }
}
