/**
 * Uploads pinned to one write server: a pool of two write *primaries* (`write: { servers: [A, B] }`)
 * made of two real docker-registry processes that share ONE storage folder but sign upload state
 * with DIFFERENT `http.secret`s, as two Nexus nodes (or two registry replicas) behind one name do.
 * Every blob and manifest is visible from both, but an upload session belongs to the server that
 * started it: the other answers every request of it (PATCH, PUT, GET progress, DELETE, even without
 * `_state`) with `404 {"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}`.
 *
 * What happens today (verified on node with this suite, before pinning landed): the write pool is
 * balanced by least connections with round-robin ties (src/upstream/pool.ts), request by request.
 * A sequential skopeo push therefore alternates: the blob HEAD goes to A, then B; the
 * `POST /v2/<name>/blobs/uploads/` (202) to A; the `PATCH` of that upload to B, which answers
 * 404 BLOB_UPLOAD_INVALID, and skopeo gives up at once:
 *
 *   level=fatal msg="writing blob: uploading layer chunked: blob upload invalid: blob upload invalid"
 *
 * (in ~0.1 s; the access log shows POST → A 202, PATCH → B 404). Every push fails, whatever the
 * runtime, and both servers see requests of one push.
 *
 * What this suite expects (the lead's design): every request of one repository's push
 * (`/v2/<name>/blobs/uploads/…`, blob HEADs, the manifest PUT of `<name>`) goes to the same
 * healthy write primary, chosen by rendezvous hashing of `<name>`; different names spread over
 * both primaries; and when the server a push is pinned to dies mid-upload, that push fails fast
 * with a clear error instead of being sent (half-done) to the other one.
 *
 * The registries are shared by all runtimes (each runtime pushes its own images under its own
 * names); active health checks are off (a worker cannot run them) and the back-off is short.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, skopeo, copyArgs, type SkopeoResult } from '../support/skopeo.ts';

const MiB = 1024 * 1024;
/** Client → router rate of the slowed push in the kill case: its 8 MiB layer needs ~4 s. */
const SLOW_RATE = 2 * MiB;
const KILL_LAYER = 8 * MiB;
const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`;

let A: Registry;
let B: Registry;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-pinned-'));
  const storage = join(work, 'storage');
  [A, B] = await Promise.all([
    startRegistry({ name: 'pin-a', storageDir: storage, httpSecret: 'pinned-secret-a' }),
    startRegistry({ name: 'pin-b', storageDir: storage, httpSecret: 'pinned-secret-b' }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([A?.destroy(), B?.destroy()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(RUNTIMES)('pushes pinned to one of two write primaries on %s', (runtime) => {
  let router: RouterProcess;
  const ns = `pin-${runtime.replace(/\W/g, '')}`;

  const accessLog = (): AccessEntry[] =>
    router
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as AccessEntry);
  /** The write-role requests of repository `name` (its push), from the access log. */
  const pushRequests = (name: string): AccessEntry[] => accessLog().filter((entry) => entry.role === 'write' && entry.path.startsWith(`/v2/${name}/`));
  const serversOf = (name: string): Set<string | null> => new Set(pushRequests(name).map((entry) => entry.upstream));
  const summary = (name: string): string =>
    pushRequests(name)
      .map((entry) => `${entry.method} ${entry.path.replace(/(uploads\/[0-9a-f]{8})[^?]*/, '$1…').slice(0, 70)} → ${entry.upstream} ${entry.status}${entry.error ? ` (${entry.error})` : ''}`)
      .join('\n');
  const image = (name: string, layers: Parameters<typeof buildImage>[1]['layers'], tag = 'v1'): Promise<BuiltImage> =>
    buildImage(join(work, 'images', name.replace(/\W/g, '_')), { tag, seed: `${runtime}/${name}`, layers });

  beforeAll(async () => {
    router = await startRouter(runtime, {
      timeouts: { connect: 2, idle: 30 },
      sites: [
        {
          name: 'docker',
          hosts: ['127.0.0.1', 'localhost'],
          preset: 'docker',
          upstreams: { read: { servers: [A.url, B.url] }, write: { servers: [A.url, B.url] } },
          health: { checks: false, backoff: 2 },
        },
      ],
    });
  });

  afterAll(async () => {
    await router?.stop();
  });

  it('one push goes to one server and pulls back with equal digests', async () => {
    const name = `${ns}/one`;
    const built = await image(name, [{ randomBytes: MiB }, { files: { 'app/one': `${runtime}\n` } }]);
    const pushed = await skopeo(copyArgs(built.ref(), dockerRef(router.url, name, 'v1')), { timeoutMs: 30_000 });
    expect(serversOf(name).size, `requests of one push reached more than one server:\n${summary(name)}\nskopeo: ${pushed.stderr}`).toBe(1);
    expect(pushed.code, pushed.stderr).toBe(0);
    const pulled = join(work, 'pulled', name.replace(/\W/g, '_'));
    await copy(dockerRef(router.url, name, 'v1'), `oci:${pulled}:v1`);
    expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(built.manifestDigest);
    // One storage: both servers serve it.
    expect(await inspectDigest(dockerRef(A.url, name, 'v1'))).toBe(built.manifestDigest);
    expect(await inspectDigest(dockerRef(B.url, name, 'v1'))).toBe(built.manifestDigest);
  });

  it('six pushes in parallel under six names all succeed, each on one server, both servers used', async () => {
    // A blob HEAD of a name is pinned like its push: it tells which server a name hashes to. Pick
    // three names per server among candidates, so "both servers get some" does not hang on the
    // luck of the hash with this run's ports (six names on one of two servers: 1 in 32).
    const byServer = new Map<string, string[]>([[A.url, []], [B.url, []]]);
    const probed = new Map<string, string>();
    for (let k = 0; k < 32 && [...byServer.values()].some((names) => names.length < 3); k++) {
      const name = `${ns}/par${k}`;
      const res = await request(`${router.url}/v2/${name}/blobs/${ZERO_DIGEST}`, { method: 'HEAD' });
      await res.body.dump();
      expect(res.statusCode).toBe(404);
      const entry = await until(() => accessLog().find((e) => e.method === 'HEAD' && e.path === `/v2/${name}/blobs/${ZERO_DIGEST}`));
      probed.set(name, entry.upstream!);
      const names = byServer.get(entry.upstream!)!;
      if (names.length < 3) names.push(name);
    }
    let names = [...byServer.values()].flat();
    // Pinning that never spreads: take the first six names, and let the assertions below say so.
    if (names.length < 6) names = [...probed.keys()].slice(0, 6);

    const images = await Promise.all(names.map((name, i) => image(name, [{ randomBytes: MiB / 2 + i * 4096 }, { files: { 'app/n': `${name}\n` } }])));
    const results: SkopeoResult[] = await Promise.all(
      names.map((name, i) => skopeo(copyArgs(images[i]!.ref(), dockerRef(router.url, name, 'v1')), { timeoutMs: 30_000 })),
    );
    const report = names.map((name, i) => `${name}: exit ${results[i]!.code} ${results[i]!.stderr.trim()}\n${summary(name)}`).join('\n\n');
    for (const name of names) {
      expect(serversOf(name).size, `requests of ${name}'s push reached more than one server:\n${report}`).toBe(1);
      // Its push went where its blob HEAD went.
      expect([...serversOf(name)][0], report).toBe(probed.get(name));
    }
    expect(new Set(names.flatMap((name) => [...serversOf(name)])), `the six names did not use both servers:\n${report}`).toEqual(new Set([A.url, B.url]));
    expect(results.map((result) => result.code), report).toEqual(names.map(() => 0));
    await Promise.all(
      names.map(async (name, i) => {
        expect(await inspectDigest(dockerRef(router.url, name, 'v1'))).toBe(images[i]!.manifestDigest);
      }),
    );
  });

  it('when the server a push is pinned to dies mid-upload, the push fails fast and nothing of it reaches the other', async () => {
    const name = `${ns}/kill`;
    // One layer: skopeo uploads layers before the config, so nothing else of this push starts
    // while the layer's PATCH runs.
    const built = await image(name, [{ randomBytes: KILL_LAYER }]);
    const slow = await slowProxy(router.port, SLOW_RATE);
    let target: Registry | undefined;
    try {
      const push = skopeo(copyArgs(built.ref(), dockerRef(slow.url, name, 'v1')), { timeoutMs: 30_000 });
      let exited: SkopeoResult | undefined;
      void push.then((result) => (exited = result));
      // After the POST that opens the layer's upload, while its PATCH streams.
      const post = await until(
        () => exited ?? accessLog().find((e) => e.method === 'POST' && e.path === `/v2/${name}/blobs/uploads/`),
        15_000,
      );
      if ('code' in post) throw new Error(`the push ended before its upload started: exit ${post.code}\n${post.stderr}\n${summary(name)}`);
      target = post.upstream === A.url ? A : post.upstream === B.url ? B : undefined;
      expect(target, `POST went to ${post.upstream}`).toBeDefined();
      const other = target === A ? B : A;
      const killedAt = Date.now();
      await target!.stop();
      const result = await push;
      const seconds = (Date.now() - killedAt) / 1000;
      // The router may log the broken PATCH a moment after skopeo gave up.
      await new Promise((r) => setTimeout(r, 500));
      const report = `skopeo exit ${result.code} ${seconds.toFixed(1)} s after the kill:\n${result.stderr.trim()}\n${summary(name)}`;
      console.info(`${runtime}: pinned server killed mid-upload → ${report}`);
      expect(pushRequests(name).filter((entry) => entry.upstream === other.url), `requests of the push reached the other server:\n${report}`).toEqual([]);
      expect(result.code, report).not.toBe(0);
      expect(result.stderr, report).not.toMatch(/killed by/);
      expect(seconds, report).toBeLessThan(5);
      // A registry error skopeo can print (the router's 502/503 in registry JSON), not a bare reset.
      expect(result.stderr, report).toMatch(/unavailable|50[234]/i);
      expect(await headManifestStatus(other.url, name)).toBe(404);
    } finally {
      await slow.close();
      // For the next runtime: same port, same storage.
      if (target) await target.restart();
    }
  });
});

async function headManifestStatus(base: string, name: string): Promise<number> {
  const res = await request(`${base}/v2/${name}/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  await res.body.dump();
  return res.statusCode;
}

/** Polls until `probe` returns something (not undefined/false). */
async function until<T>(probe: () => T | undefined | false, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TCP proxy in front of the router that passes client → router bytes at `rate` bytes per second
 * (responses at full speed), so an upload is still streaming when a server is killed. The Host
 * header (and so every upload Location) names the proxy: skopeo stays on it for the whole push.
 */
async function slowProxy(port: number, rate: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      client.pause();
      const flushed = upstream.write(chunk) ? Promise.resolve() : new Promise((r) => upstream.once('drain', r));
      const paced = new Promise((r) => setTimeout(r, (chunk.length / rate) * 1000));
      void Promise.all([flushed, paced]).then(() => client.resume());
    });
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
