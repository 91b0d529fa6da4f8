/**
 * The blob cache (src/edge/blob-cache.ts) in process, with stand-ins for workerd's Cache API,
 * DigestStream and FixedLengthStream and a fake app in place of the router. The real thing runs in
 * workerd in test/e2e/edge-cache.test.ts; here: which requests it takes, where its checks are
 * routed, and that no fill that is short, wrong or cut off is ever served, even by a cache that
 * keeps aborted writes (local workerd does).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AccessEntry, AccessLog } from '../../src/access-log.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import {
  BlobCache,
  CACHE_CHECK_PARAM,
  MAX_CACHED_BLOB,
  withBlobCacheRules,
  type BlobCacheRuntime,
  type CacheLike,
  type DigestSink,
} from '../../src/edge/blob-cache.ts';
import { createApp } from '../../src/app.ts';
import { compileRouting } from '../../src/decision.ts';
import { compileSite } from '../../src/site/site.ts';

const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Stored {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** caches.default in memory: single ranges; `leaky` keeps whatever an aborted put wrote (as local workerd does). */
class MemoryCache implements CacheLike {
  readonly entries = new Map<string, Stored>();
  constructor(private readonly leaky = false) {}
  async match(request: Request | string): Promise<Response | undefined> {
    const req = typeof request === 'string' ? new Request(request) : request;
    const stored = this.entries.get(req.url);
    if (!stored) return undefined;
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get('range') ?? '');
    if (!range) return new Response(stored.body.slice(), { status: stored.status, headers: stored.headers });
    const [start, end] = [Number(range[1]), Math.min(Number(range[2]), stored.body.length - 1)];
    const headers = new Headers(stored.headers);
    headers.set('content-range', `bytes ${start}-${end}/${stored.body.length}`);
    headers.set('content-length', String(end - start + 1));
    return new Response(stored.body.slice(start, end + 1), { status: 206, headers });
  }
  async put(request: Request | string, response: Response): Promise<void> {
    const url = typeof request === 'string' ? request : request.url;
    const chunks: Uint8Array[] = [];
    const reader = response.body!.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value.slice());
      }
    } catch (error) {
      if (this.leaky) this.entries.set(url, { status: response.status, headers: response.headers, body: Buffer.concat(chunks) });
      throw error;
    }
    this.entries.set(url, { status: response.status, headers: response.headers, body: Buffer.concat(chunks) });
  }
  async delete(request: Request | string): Promise<boolean> {
    return this.entries.delete(typeof request === 'string' ? request : request.url);
  }
  markers(): string[] {
    return [...this.entries.keys()].filter((key) => /sha256:[0-9a-f]{64}$/.test(key));
  }
}

function runtime(cache: CacheLike): Omit<BlobCacheRuntime, 'waitUntil'> {
  return {
    cache,
    digest(): DigestSink {
      const hash = createHash('sha256');
      let settle!: { resolve(value: ArrayBuffer): void; reject(error: unknown): void };
      const digest = new Promise<ArrayBuffer>((resolve, reject) => (settle = { resolve, reject }));
      const sink = new WritableStream<Uint8Array>({
        write: (chunk) => void hash.update(chunk),
        close: () => settle.resolve(new Uint8Array(hash.digest()).buffer),
        abort: (error) => settle.reject(error),
      });
      return Object.assign(sink, { digest });
    },
    fixedLength(length) {
      let seen = 0;
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > length) throw new Error('more bytes than declared');
          controller.enqueue(chunk);
        },
        flush() {
          if (seen !== length) throw new Error('fewer bytes than declared');
        },
      });
    },
  };
}

const BLOB = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);
const HEX = hexOf(BLOB);
const PATH = `/v2/team/app/blobs/sha256:${HEX}`;
const URL_ = `http://registry.example.com${PATH}`;

function config(site: Record<string, unknown> = {}): Config {
  return withBlobCacheRules(
    parseConfig({
      sites: [
        {
          name: 'docker',
          hosts: ['registry.example.com'],
          preset: 'docker',
          upstreams: { read: 'http://group:8082', write: 'http://hosted:8083' },
          blobCache: true,
          ...site,
        },
        { name: 'plain', hosts: ['plain.example.com'], preset: 'docker', upstreams: { read: 'http://group:8082', write: 'http://hosted:8083' } },
      ],
    }),
  );
}

/** A body handed out in `chunk`-sized pieces, as an origin streams it. */
function streamOf(bytes: Uint8Array, { chunk = 16_384, failAt }: { chunk?: number; failAt?: number } = {}): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (failAt !== undefined && at >= failAt) return controller.error(new Error('origin broke off'));
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

interface Harness {
  cache: MemoryCache;
  blobs: BlobCache;
  lines: Array<AccessEntry & { cache?: string }>;
  sent: Request[];
  waits: Promise<unknown>[];
  /** What the fake origin answers through the app. */
  answer: (request: Request) => Response;
  serve(headers?: Record<string, string>): Promise<Response>;
}

/** The blob cache around a fake app that "forwards" to `answer` and writes one access-log line per request, as the app does. */
function harness({ leaky = false }: { leaky?: boolean } = {}): Harness {
  const cache = new MemoryCache(leaky);
  const lines: Harness['lines'] = [];
  const inner: AccessLog = (entry) => void lines.push(entry);
  const cfg = config();
  const blobs = new BlobCache(compileRouting(cfg), runtime(cache), inner);
  const log = blobs.accessLog(inner);
  const h: Harness = {
    cache,
    blobs,
    lines,
    sent: [],
    waits: [],
    answer: () => new Response(BLOB, { headers: { 'content-length': String(BLOB.length), 'docker-content-digest': `sha256:${HEX}` } }),
    async serve(headers = {}) {
      const request = new Request(URL_, { headers: { 'cf-connecting-ip': '10.0.0.1', ...headers } });
      const plan = blobs.plan(request);
      expect(plan).toBeDefined();
      const app = async (sent: Request) => {
        h.sent.push(sent);
        const url = new URL(sent.url);
        const response = h.answer(sent);
        const entry = {
          time: '',
          site: 'docker',
          host: url.host,
          method: sent.method,
          path: url.pathname,
          status: response.status,
          bytesIn: 0,
          bytesOut: 0,
          durationMs: 0,
          role: 'read',
          upstream: 'http://group:8082/',
          client: sent.headers.get('cf-connecting-ip') ?? '',
        };
        if (sent.method === 'HEAD' || !response.body) {
          log(entry);
          return new Response(null, { status: response.status, headers: response.headers });
        }
        // As forward() does: the line once the body is done.
        const reader = response.body.getReader();
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { done, value } = await reader.read();
              if (done) {
                controller.close();
                log(entry);
              } else controller.enqueue(value);
            } catch (error) {
              controller.error(error);
              log({ ...entry, error: String(error) });
            }
          },
          cancel: (reason) => reader.cancel(reason),
        });
        return new Response(body, { status: response.status, headers: response.headers });
      };
      return blobs.serve(plan!, request, app, (promise) => void h.waits.push(promise));
    },
  };
  return h;
}

const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer());
/** Byte equality without vitest's element-by-element diff (slow on 200 000 elements). */
const same = (a: Buffer, b: Uint8Array) => a.equals(b);
const settled = async (h: Harness) => {
  for (let i = 0; i < 5; i++) await Promise.allSettled(h.waits);
};

describe('blob cache: what it takes and where its checks go', () => {
  const cfg = config();
  const blobs = new BlobCache(compileRouting(cfg), runtime(new MemoryCache()), () => {});
  const plan = (url: string, init?: RequestInit) => blobs.plan(new Request(url, init));

  it('takes GET of a blob by sha256 on a blobCache site, and nothing else', () => {
    expect(plan(URL_)).toMatchObject({ hex: HEX, check: 'read', markerKey: `https://registry.example.com/.registry-router/blob-cache/docker/sha256:${HEX}` });
    expect(plan(URL_, { method: 'HEAD' })).toBeUndefined();
    expect(plan(`${URL_}?x=1`)).toBeUndefined();
    expect(plan(`http://plain.example.com${PATH}`)).toBeUndefined();
    expect(plan('http://registry.example.com/v2/team/app/manifests/1.0')).toBeUndefined();
    expect(plan(`http://registry.example.com/v2/team/app/manifests/sha256:${HEX}`)).toBeUndefined();
    expect(plan(`http://registry.example.com/v2/team/app/blobs/sha512:${HEX}${HEX}`)).toBeUndefined();
    expect(plan(`http://registry.example.com/v2/team/app/blobs/sha256:${HEX.toUpperCase()}`)).toBeUndefined();
    expect(plan(`http://registry.example.com/v2/team/%2e%2e/blobs/sha256:${HEX}`)).toBeUndefined();
    expect(plan(`http://registry.example.com/v2/team/app/blobs/uploads/sha256:${HEX}`)).toBeUndefined();
  });

  it('leaves a GET that a deny rule refuses, or that a push session steers, to the app', () => {
    const denied = new BlobCache(
      compileRouting(config({ rules: [{ methods: ['GET'], path: '/v2/secret/**', to: 'deny' }] })),
      runtime(new MemoryCache()),
      () => {},
    );
    expect(denied.plan(new Request(`http://registry.example.com/v2/secret/app/blobs/sha256:${HEX}`))).toBeUndefined();
    expect(denied.plan(new Request(URL_))).toBeDefined();
    const steered = new BlobCache(
      compileRouting(config({ rules: [{ methods: ['GET'], path: '/v2/**/blobs/*', to: 'read', session: 'follow' }] })),
      runtime(new MemoryCache()),
      () => {},
    );
    expect(steered.plan(new Request(URL_))).toBeUndefined();
    const pinned = new BlobCache(
      compileRouting(config({ rules: [{ methods: ['GET'], path: '/v2/**/blobs/*', to: 'write', pin: true }] })),
      runtime(new MemoryCache()),
      () => {},
    );
    expect(pinned.plan(new Request(URL_))?.check).toBe('write.pinned');
  });

  it('routes its own HEAD where the GET goes, without a push session; a client HEAD still goes to hosted and opens one', () => {
    const site = compileSite(cfg.sites[0]!);
    const query = (value: string) => new URLSearchParams({ [CACHE_CHECK_PARAM]: value });
    expect(site.rule('HEAD', PATH, query('read'))).toMatchObject({ target: 'read', pin: false, session: undefined });
    expect(site.rule('HEAD', PATH, query('write.pinned'))).toMatchObject({ target: 'write', pin: true, session: undefined });
    expect(site.rule('HEAD', PATH, new URLSearchParams())).toMatchObject({ target: 'write', pin: true, session: 'open' });
    expect(site.rule('GET', PATH, new URLSearchParams())).toMatchObject({ target: 'read' });
    // Sites without blobCache are left as they were.
    expect(cfg.sites[1]!.rules).toEqual([]);
  });
});

describe("blob cache: the app's decision", () => {
  it("decides with the routing the app compiled (app.routing, no second compile); what the app answers itself stays the app's", () => {
    const cfg = config({ httpsRedirect: 443 });
    const client = { send: async () => ({ status: 200, headers: new Headers(), body: null }) };
    const app = createApp(cfg, { client, log: () => {}, healthLog: () => {} });
    const blobs = new BlobCache(app.routing, runtime(new MemoryCache()), () => {});
    try {
      // Over HTTPS the GET is a read of the group: planned, on the app's own site object.
      expect(blobs.plan(new Request(URL_.replace('http:', 'https:')))?.site).toBe(app.routing.sites[0]);
      // Over plain HTTP this site redirects (a local answer): nothing for the cache.
      expect(blobs.plan(new Request(URL_))).toBeUndefined();
    } finally {
      app.stop();
    }
  });
});

describe('blob cache: serving', () => {
  it('a miss streams the blob and stores it; the next request is checked with HEAD and served from the cache', async () => {
    const h = harness();
    const first = await h.serve({ authorization: 'Basic right' });
    expect(first.headers.get('content-length')).toBe(String(BLOB.length));
    expect(same(await bytesOf(first), BLOB)).toBe(true);
    await settled(h);
    expect(h.cache.markers()).toHaveLength(1);

    const second = await h.serve({ authorization: 'Basic right' });
    expect(same(await bytesOf(second), BLOB)).toBe(true);
    expect(second.headers.get('docker-content-digest')).toBe(`sha256:${HEX}`);
    expect(h.sent.map((r) => r.method)).toEqual(['GET', 'HEAD']);
    const check = h.sent[1]!;
    expect(new URL(check.url).searchParams.get(CACHE_CHECK_PARAM)).toBe('read');
    expect(check.headers.get('authorization')).toBe('Basic right');
    await settled(h);
    expect(h.lines.map((line) => `${line.method} ${line.cache}`)).toEqual(['GET miss', 'HEAD check', 'GET hit']);
    expect(h.lines[2]).toMatchObject({ role: 'cache', upstream: null, bytesOut: BLOB.length, status: 200, site: 'docker', client: '10.0.0.1' });
  });

  it('a check the origin refuses sends the GET to the origin, whose answer the client gets; a 304 goes out as it is', async () => {
    const h = harness();
    await bytesOf(await h.serve());
    await settled(h);
    h.answer = () => new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', { status: 401, headers: { 'www-authenticate': 'Basic realm="x"' } });
    const refused = await h.serve({ authorization: 'Basic wrong' });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('UNAUTHORIZED');
    expect(h.sent.slice(1).map((r) => r.method)).toEqual(['HEAD', 'GET']);
    h.answer = () => new Response(null, { status: 304, headers: { etag: `"sha256:${HEX}"` } });
    const unchanged = await h.serve({ 'if-none-match': `"sha256:${HEX}"` });
    expect(unchanged.status).toBe(304);
    expect(h.sent.slice(3).map((r) => r.method)).toEqual(['HEAD']);
  });

  it('answers a Range from the cache; the check itself carries no Range', async () => {
    const h = harness();
    await bytesOf(await h.serve());
    await settled(h);
    const ranged = await h.serve({ range: 'bytes=100-199' });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${BLOB.length}`);
    expect(same(await bytesOf(ranged), BLOB.slice(100, 200))).toBe(true);
    expect(h.sent[1]!.headers.has('range')).toBe(false);
  });

  it('a Range on a miss goes to the origin and is not stored', async () => {
    const h = harness();
    h.answer = () => new Response(BLOB.slice(0, 10), { status: 206, headers: { 'content-range': `bytes 0-9/${BLOB.length}`, 'content-length': '10' } });
    expect((await h.serve({ range: 'bytes=0-9' })).status).toBe(206);
    await settled(h);
    expect(h.cache.entries.size).toBe(0);
  });

  for (const leaky of [false, true]) {
    it(`never serves a fill whose bytes do not match the digest, are short, or break off${leaky ? ' (a cache that keeps aborted writes)' : ''}`, async () => {
      const h = harness({ leaky });
      const wrong = BLOB.map((byte) => byte ^ 1);
      const cases: Array<() => Response> = [
        () => new Response(streamOf(wrong), { headers: { 'content-length': String(wrong.length) } }),
        () => new Response(streamOf(BLOB.slice(0, 1000)), { headers: { 'content-length': String(BLOB.length) } }),
        () => new Response(streamOf(BLOB, { failAt: 100_000 }), { headers: { 'content-length': String(BLOB.length) } }),
      ];
      for (const answer of cases) {
        h.answer = answer;
        const response = await h.serve();
        await response.arrayBuffer().catch(() => {});
        await settled(h);
        expect(h.cache.markers()).toEqual([]);
      }
      expect(h.sent.every((r) => r.method === 'GET')).toBe(true);
      // Nothing of those fills is left behind either.
      expect(h.cache.entries.size).toBe(0);
      // The right bytes, then: stored, and the next request is a hit.
      h.answer = () => new Response(streamOf(BLOB), { headers: { 'content-length': String(BLOB.length) } });
      expect(same(await bytesOf(await h.serve()), BLOB)).toBe(true);
      await settled(h);
      expect(same(await bytesOf(await h.serve()), BLOB)).toBe(true);
      expect(h.sent.slice(-2).map((r) => r.method)).toEqual(['GET', 'HEAD']);
    });
  }

  it('a client that goes away mid-fill leaves nothing behind', async () => {
    const h = harness();
    h.answer = () => new Response(streamOf(BLOB), { headers: { 'content-length': String(BLOB.length) } });
    const response = await h.serve();
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel(new Error('client gone'));
    await settled(h);
    expect(h.cache.entries.size).toBe(0);
  });

  it(`passes a blob over ${MAX_CACHED_BLOB} bytes through without storing it (bypass)`, async () => {
    const h = harness();
    h.answer = () => new Response(streamOf(BLOB), { headers: { 'content-length': String(MAX_CACHED_BLOB + 1) } });
    const response = await h.serve();
    expect(response.headers.get('content-length')).toBe(String(MAX_CACHED_BLOB + 1));
    await response.arrayBuffer();
    await settled(h);
    expect(h.cache.entries.size).toBe(0);
    expect(h.lines.map((line) => line.cache)).toEqual(['bypass']);
  });
});
