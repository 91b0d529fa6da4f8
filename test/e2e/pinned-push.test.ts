/**
 * Uploads pinned to one write server: a pool of two write *primaries* (`write: { servers: [A, B] }`)
 * made of two real docker-registry processes that share ONE storage folder but sign upload state
 * with DIFFERENT `http.secret`s, as two Nexus nodes (or two registry replicas) behind one name do.
 * Every blob and manifest is visible from both, but an upload session belongs to the server that
 * started it: the other answers every request of it (PATCH, PUT, GET progress, DELETE, even without
 * `_state`) with `404 {"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}`.
 *
 * What happened before pinning (verified on node with this suite at b44c655, before 1b276b1): the
 * write pool was balanced by least connections with round-robin ties, request by request.
 * A sequential skopeo push therefore alternates: the blob HEAD goes to A, then B; the
 * `POST /v2/<name>/blobs/uploads/` (202) to A; the `PATCH` of that upload to B, which answers
 * 404 BLOB_UPLOAD_INVALID, and skopeo gives up at once:
 *
 *   level=fatal msg="writing blob: uploading layer chunked: blob upload invalid: blob upload invalid"
 *
 * (in ~0.1 s; the access log shows POST → A 202, PATCH → B 404). In parallel pushes least
 * connections sometimes kept POST and PATCH together, and the final `PUT …?digest=` then went to
 * the other server (404). Every push failed, and both servers saw requests of one push.
 *
 * What this suite expects (the lead's design): every request of one repository's push
 * (`/v2/<name>/blobs/uploads/…`, blob HEADs, the manifest PUT of `<name>`) goes to the same
 * healthy write primary, chosen by rendezvous hashing of `<name>`; different names spread over
 * both primaries; and when the server a push is pinned to dies mid-upload, that push fails fast
 * with a clear error instead of being sent (half-done) to the other one. After that, with the
 * server still down, the same client's next try of that push goes to the survivor and succeeds
 * (send.ts: "its session ends, so the client's next push starts afresh on a healthy server"), and
 * what it pushed to the dead server before is still pulled (reads go through the read pool).
 *
 * The registries are shared by all runtimes (each runtime pushes its own images under its own
 * names); active health checks are off (a worker cannot run them): a server is known down only
 * from a request that failed on it, and stays out for the default back-off (10 s).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { frontProxy } from '../support/front-proxy.ts';
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
  /** Where skopeo talks to the router: the router itself, or on workerd a front that refuses TLS (see frontProxy). */
  let via: string;
  let front: Awaited<ReturnType<typeof frontProxy>> | undefined;
  const ns = `pin-${runtime.replace(/\W/g, '')}`;

  const accessLog = (): AccessEntry[] => router.accessLog();
  /** The write-role requests of repository `name` (its push), from the access log. */
  const pushRequests = (name: string): AccessEntry[] => accessLog().filter((entry) => entry.role === 'write' && entry.path.startsWith(`/v2/${name}/`));
  const serversOf = (name: string): Set<string | null> => new Set(pushRequests(name).map((entry) => entry.upstream));
  const summary = (name: string): string =>
    pushRequests(name)
      .map(
        (entry) =>
          `${entry.method} ${entry.path.replace(/(uploads\/[0-9a-f]{8})[^?]*/, '$1…').slice(0, 70)} ` +
          `→ ${entry.upstream} ${entry.status}${entry.error ? ` (${entry.error})` : ''}`,
      )
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
          health: { checks: false },
        },
      ],
    });
    front = runtime === 'workerd' ? await frontProxy(router.port) : undefined;
    via = front?.url ?? router.url;
  });

  afterAll(async () => {
    await front?.close();
    await router?.stop();
    // For the next runtime: same port, same storage.
    if (killed) await killed.restart();
  });

  /** The six names of the parallel case, with the server each went to and its image. */
  const parallel: Array<{ name: string; server: string; image: BuiltImage }> = [];
  /** The kill case: the server it killed (restarted after the last case), and its push. */
  let killed: Registry | undefined;
  let killPush: { name: string; image: BuiltImage } | undefined;

  it('one push goes to one server and pulls back with equal digests', async () => {
    const name = `${ns}/one`;
    const built = await image(name, [{ randomBytes: MiB }, { files: { 'app/one': `${runtime}\n` } }]);
    const pushed = await skopeo(copyArgs(built.ref(), dockerRef(via, name, 'v1')), { timeoutMs: 30_000 });
    expect(serversOf(name).size, `requests of one push reached more than one server:\n${summary(name)}\nskopeo: ${pushed.stderr}`).toBe(1);
    expect(pushed.code, pushed.stderr).toBe(0);
    const pulled = join(work, `pulled-${name.replace(/\W/g, '_')}`);
    await copy(dockerRef(via, name, 'v1'), `oci:${pulled}:v1`);
    expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(built.manifestDigest);
    // One storage: both servers serve it.
    expect(await inspectDigest(dockerRef(A.url, name, 'v1'))).toBe(built.manifestDigest);
    expect(await inspectDigest(dockerRef(B.url, name, 'v1'))).toBe(built.manifestDigest);
  });

  it('six pushes in parallel under six names all succeed, each on one server, both servers used', async () => {
    // A blob HEAD of a name is pinned like its push: it tells which server a name hashes to. Pick
    // three names per server among candidates, so "both servers get some" does not hang on the
    // luck of the hash with this run's ports (six names on one of two servers: 1 in 32).
    const byServer = new Map<string, string[]>([
      [A.url, []],
      [B.url, []],
    ]);
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
      names.map((name, i) => skopeo(copyArgs(images[i]!.ref(), dockerRef(via, name, 'v1')), { timeoutMs: 30_000 })),
    );
    const report = names.map((name, i) => `${name}: exit ${results[i]!.code} ${results[i]!.stderr.trim()}\n${summary(name)}`).join('\n\n');
    for (const name of names) {
      expect(serversOf(name).size, `requests of ${name}'s push reached more than one server:\n${report}`).toBe(1);
      // Its push went where its blob HEAD went.
      expect([...serversOf(name)][0], report).toBe(probed.get(name));
    }
    expect(new Set(names.flatMap((name) => [...serversOf(name)])), `the six names did not use both servers:\n${report}`).toEqual(new Set([A.url, B.url]));
    expect(
      results.map((result) => result.code),
      report,
    ).toEqual(names.map(() => 0));
    names.forEach((name, i) => parallel.push({ name, server: probed.get(name)!, image: images[i]! }));
    await Promise.all(
      names.map(async (name, i) => {
        expect(await inspectDigest(dockerRef(via, name, 'v1'))).toBe(images[i]!.manifestDigest);
      }),
    );
  });

  it('when the server a push is pinned to dies mid-upload, the push fails fast and nothing of it reaches the other', async () => {
    const name = `${ns}/kill`;
    // One layer: skopeo uploads layers before the config, so nothing else of this push starts
    // while the layer's PATCH runs.
    const built = await image(name, [{ randomBytes: KILL_LAYER }]);
    killPush = { name, image: built };
    const slow = await frontProxy(router.port, { rate: SLOW_RATE });
    let target: Registry | undefined;
    try {
      const push = skopeo(copyArgs(built.ref(), dockerRef(slow.url, name, 'v1')), { timeoutMs: 30_000 });
      let exited: SkopeoResult | undefined;
      void push.then((result) => (exited = result));
      // After the POST that opens the layer's upload, while its PATCH streams.
      const post = await until(() => accessLog().find((e) => e.method === 'POST' && e.path === `/v2/${name}/blobs/uploads/`) ?? exited, 15_000);
      if ('code' in post) throw new Error(`the push ended before its upload started: exit ${post.code}\n${post.stderr}\n${summary(name)}`);
      target = post.upstream === A.url ? A : post.upstream === B.url ? B : undefined;
      expect(target, `POST went to ${post.upstream}`).toBeDefined();
      const other = target === A ? B : A;
      const killedAt = Date.now();
      killed = target;
      await target!.stop();
      const result = await push;
      const seconds = (Date.now() - killedAt) / 1000;
      // The router may log the broken PATCH a moment after skopeo gave up.
      await new Promise((r) => setTimeout(r, 500));
      const report = `skopeo exit ${result.code} ${seconds.toFixed(1)} s after the kill:\n${result.stderr.trim()}\n${summary(name)}`;
      console.info(`${runtime}: pinned server killed mid-upload → ${report}`);
      expect(
        pushRequests(name).filter((entry) => entry.upstream === other.url),
        `requests of the push reached the other server:\n${report}`,
      ).toEqual([]);
      expect(result.code, report).not.toBe(0);
      expect(result.stderr, report).not.toMatch(/killed by/);
      expect(seconds, report).toBeLessThan(5);
      // A registry error skopeo can print (the router's 502/503 in registry JSON), not a bare reset.
      expect(result.stderr, report).toMatch(/unavailable|50[234]/i);
      expect(await headManifestStatus(other.url, name)).toBe(404);
    } finally {
      await slow.close();
    }
  });

  it('with that server still down, the client pulls what it pushed there before, and pushing again works on the other', async () => {
    if (!killed || !killPush) throw new Error('the kill case did not kill a server');
    const push = killPush;
    const survivor = killed === A ? B : A;
    const problems: string[] = [];
    // The user tries again: the router knows that server is gone (its upload broke off under it),
    // so the first new try goes to the survivor. (Up to three tries, to report what it took.)
    const tries: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const mark = accessLog().length;
      const again = await skopeo(copyArgs(push.image.ref(), dockerRef(via, push.name, 'v1')), { timeoutMs: 30_000 });
      const sent = accessLog()
        .slice(mark)
        .filter((entry) => entry.role === 'write' && entry.path.startsWith(`/v2/${push.name}/`));
      const servers = [...new Set(sent.map((entry) => entry.upstream))].join(', ');
      const first = sent.find((entry) => entry.status >= 500);
      tries.push(
        `try ${attempt}: exit ${again.code} ` +
          `via ${servers}${again.code ? `: ${again.stderr.trim()}` : ''}${first ? ` [router: ${first.method} ${first.status} ${first.error ?? ''}]` : ''}`,
      );
      if (again.code === 0) {
        if (sent.some((entry) => entry.upstream !== survivor.url)) problems.push(`pushing ${push.name} again did not stay on the surviving server: ${servers}`);
        break;
      }
    }
    console.info(`${runtime}: pushing ${push.name} again with ${killed.url} down:\n${tries.join('\n')}`);
    if (tries.length > 1 || !tries[0]!.startsWith('try 1: exit 0')) problems.push(`pushing again after the server died:\n${tries.join('\n')}`);
    // What the same client pushed earlier to the dead server is in the storage the survivor reads:
    // reads go on through the read pool (a GET has no upload to lose).
    const onDead = parallel.filter((entry) => entry.server === killed!.url);
    if (onDead.length === 0) problems.push('none of the parallel pushes went to the killed server');
    for (const { name, image: built } of onDead) {
      const before = accessLog().length;
      const args = ['inspect', '--raw', '--tls-verify=false', '--no-creds', dockerRef(via, name, 'v1')];
      const got = await skopeo(args, { timeoutMs: 30_000 });
      const digest = `sha256:${createHash('sha256').update(got.stdoutBuffer).digest('hex')}`;
      if (got.code !== 0 || digest !== built.manifestDigest) {
        const log = accessLog()
          .slice(before)
          .map(
            (entry) => `${entry.method} ${entry.path.slice(0, 60)} → ${entry.role} ${entry.upstream} ${entry.status}${entry.error ? ` (${entry.error})` : ''}`,
          )
          .join('\n');
        problems.push(`pulling ${name} (pushed to the dead server before it died): exit ${got.code} ${got.stderr.trim()}\n${log}`);
      }
    }
    expect(problems).toEqual([]);
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
