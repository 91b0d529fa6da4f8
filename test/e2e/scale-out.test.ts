/**
 * Several routers behind one balancer, sharing their push sessions in one Redis (issue 21): three
 * router processes of different runtimes (node, bun-node, deno), Debian's `haproxy` in HTTP mode
 * with `balance roundrobin` in front (each request balanced on its own: one push's requests land on
 * all three), the PROXY protocol (v2) to the node router and X-Forwarded-For (`realIp` trusting
 * haproxy) to the others, and Debian's `redis-server` on its own port.
 *
 * Why the containerd case fails without a shared store (shown by its own test below, with three
 * routers that keep their sessions in-process): each repository's blobs are in hosted already (put
 * there directly under another tag), so a containerd push of a tag sends three requests: two blob
 * HEADs (200: nothing to upload; each opens the push session on the router it lands on) and the
 * manifest HEAD. Round robin over three routers puts that HEAD on the one router that saw neither
 * blob HEAD: without the session it is a read, the group answers 200 with the digest being pushed
 * (it serves the tag from another member), and ctr skips the manifest PUT. With Redis, every router
 * knows the session and the HEAD goes to hosted (404), so the PUT goes out.
 *
 * Sites, told apart by Host (haproxy passes it on):
 * - `127.0.0.1` ("main"): group A (a pull-through of hosted A) / hosted A: skopeo pushes and pulls.
 * - `localhost` ("remote"): group B (a pull-through of R, which holds `<repo>:t`) / hosted B (which
 *   holds `<repo>:seed`, the same blobs): the containerd pushes, one repository each.
 * - `127.0.0.3` ("maven"): the nginx-served group / releases / snapshots of test/support/maven.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { headManifest } from '../support/blob.ts';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import { startHaproxy, type Haproxy } from '../support/haproxy.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import {
  artifactDir,
  listedVersions,
  makeJar,
  mavenClient,
  mvnErrors,
  snapshotOf,
  startMavenRepos,
  type MavenClient,
  type MavenRepos,
} from '../support/maven.ts';
import { freePort } from '../support/ports.ts';
import { startRedis, stopRedis, type RedisProcess } from '../support/redis.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, tryCopy } from '../support/skopeo.ts';

const KiB = 1024;
/** One repository per containerd push, so that no router has seen a request of it before. */
const PUSHED = Array.from({ length: 10 }, (_, i) => `team/app${i}`);
const REPOS = [...PUSHED, 'team/solo', 'team/after'];
const APP = { groupId: 'com.example', artifactId: 'app' };
const MAVEN_HOST = '127.0.0.3';

let work: string;
let redis: RedisProcess;
let containerd: Containerd;
let hostedA: Registry;
let groupA: Registry;
let remote: Registry;
let groupB: Registry;
let hostedB: Registry;
let repos: MavenRepos;
let maven: MavenClient;
/** The image R holds as `<repo>:t` and hosted B as `<repo>:seed`: one small layer. */
let base: BuiltImage;
/** containerd's name for it (namespace "seed"), pulled from R as a client pulls from Docker Hub. */
let baseLocal: string;
const SEED_NS = 'seed';

/** The routers' config: three sites, the shared store (or none), haproxy trusted for X-Forwarded-For. */
const routerConfig = (admin: number, sessions: boolean): ConfigInput => ({
  sites: [
    { name: 'main', hosts: ['127.0.0.1'], preset: 'docker' as const, upstreams: { read: groupA.url, write: hostedA.url } },
    { name: 'remote', hosts: ['localhost'], preset: 'docker' as const, upstreams: { read: groupB.url, write: hostedB.url } },
    {
      name: 'maven',
      hosts: [MAVEN_HOST],
      preset: 'maven' as const,
      upstreams: { read: repos.groupUrl, write: repos.releasesUrl, snapshots: repos.snapshotsUrl },
    },
  ],
  realIp: { from: ['127.0.0.1'] },
  admin: { host: '127.0.0.1', port: admin },
  ...(sessions && { sessions: { redis: redis.url } }),
});

interface Fleet {
  routers: RouterProcess[];
  admins: number[];
  haproxy: Haproxy;
  stop(): Promise<void>;
}

/** Routers of `runtimes` (the first with a PROXY v2 listener), haproxy in front on 127.0.0.1 and 127.0.0.3. */
async function startFleet(runtimes: readonly Runtime[], sessions: boolean): Promise<Fleet> {
  const admins = await Promise.all(runtimes.map(() => freePort()));
  const routers = await Promise.all(
    runtimes.map((runtime, i) => startRouter(runtime, routerConfig(admins[i]!, sessions), { listen: [i === 0 ? { proxyProtocol: true } : {}] })),
  );
  const haproxy = await startHaproxy(
    routers.map((router, i) => ({ name: `${runtimes[i]}-${i}`, port: router.port, ...(i === 0 && { proxy: 'v2' as const }) })),
    ['127.0.0.1', MAVEN_HOST],
  );
  return {
    routers,
    admins,
    haproxy,
    async stop() {
      await haproxy.stop();
      await Promise.all(routers.map((router) => router.stop()));
    },
  };
}

/** A router's `/metrics` sample of the sessions store, NaN when it has none. */
async function storeMetric(admin: number, name: 'registry_router_sessions_store_up' | 'registry_router_sessions_fallbacks_total'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{store="redis"\\} (\\d+)$`, 'm').exec(text)?.[1]);
}

/** Polls `condition` every 50 ms for up to `ms`. */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const manifestHeads = (router: RouterProcess, repo: string, tag: string) =>
  router.accessLog().filter((line) => line.site === 'remote' && line.method === 'HEAD' && line.path === `/v2/${repo}/manifests/${tag}`);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-scale-out-'));
  [redis, containerd, hostedA, remote, hostedB, repos, maven] = await Promise.all([
    startRedis(),
    startContainerd(),
    startRegistry({ name: 'scale-hosted-a' }),
    startRegistry({ name: 'scale-remote' }),
    startRegistry({ name: 'scale-hosted-b' }),
    startMavenRepos(),
    mavenClient(),
  ]);
  [groupA, groupB, base] = await Promise.all([
    startRegistry({ name: 'scale-group-a', proxyRemote: hostedA.url }),
    startRegistry({ name: 'scale-group-b', proxyRemote: remote.url }),
    buildImage(join(work, 'base'), { tag: 't', layers: [{ randomBytes: 64 * KiB, seed: 'scale-out-base' }] }),
  ]);
  // R serves the image as <repo>:t, so the group answers its HEAD with the digest being pushed; hosted B
  // has its blobs (as <repo>:seed), so a push sends no upload, only the two blob HEADs and the manifest HEAD.
  await Promise.all(REPOS.map((repo) => copy(base.ref(), dockerRef(remote.url, repo, 't'))));
  await Promise.all(REPOS.map((repo) => copy(base.ref(), dockerRef(hostedB.url, repo, 'seed'))));
  baseLocal = `${remote.host}/team/app0:t`;
  expect((await containerd.pull(baseLocal, { namespace: SEED_NS })).digest).toBe(base.manifestDigest);
}, 120_000);

afterAll(async () => {
  await containerd?.stop();
  await Promise.allSettled([hostedA, groupA, remote, groupB, hostedB].map((registry) => registry?.destroy()));
  await repos?.destroy();
  await maven?.destroy();
  await stopRedis(redis);
  if (work) await rm(work, { recursive: true, force: true });
});

/** ctr pushes `repo:t` through `haproxy` (a tag the group already serves); the manifest's state on hosted B after. */
async function ctrPush(haproxy: Haproxy, repo: string) {
  const ref = `localhost:${haproxy.port}/${repo}:t`;
  await containerd.tag(baseLocal, ref, { namespace: SEED_NS });
  await containerd.push(ref, undefined, { namespace: SEED_NS });
  return headManifest(hostedB.url, repo, 't');
}

describe('without a shared store', () => {
  it('three routers behind round robin lose the manifest of a containerd push of a tag the group serves', async () => {
    const fleet = await startFleet(['node', 'node', 'node'], false);
    try {
      // Two blob HEADs and the manifest HEAD, one on each router; the last one knows no session.
      const pushed = await ctrPush(fleet.haproxy, 'team/solo');
      expect(pushed.status, 'the manifest of team/solo:t on hosted (dropped: the HEAD went to the group)').toBe(404);
      const heads = fleet.routers.flatMap((router) => manifestHeads(router, 'team/solo', 't'));
      expect(heads.map((line) => [line.role, line.status])).toEqual([['read', 200]]);
    } finally {
      await fleet.stop();
    }
  }, 120_000);
});

describe('node, bun-node and deno sharing one Redis behind haproxy', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet(['node', 'bun-node', 'deno'], true);
    await until('every router connected to Redis', async () => {
      const up = await Promise.all(fleet.admins.map((admin) => storeMetric(admin, 'registry_router_sessions_store_up')));
      return up.every((value) => value === 1);
    });
  }, 120_000);
  afterAll(() => fleet?.stop());

  it('ctr pushes ten tags the group already serves: every manifest lands on hosted', async () => {
    const landed: string[] = [];
    for (const repo of PUSHED) {
      const onHosted = await ctrPush(fleet.haproxy, repo);
      if (onHosted.status === 200 && onHosted.digest === base.manifestDigest) landed.push(repo);
    }
    expect(landed).toEqual(PUSHED);
    for (const repo of PUSHED) {
      // Each manifest HEAD went where the push writes, on a router that saw none of the push's blob HEADs.
      const heads = fleet.routers.map((router) => manifestHeads(router, repo, 't'));
      expect(
        heads.flat().map((line) => [line.role, line.status]),
        repo,
      ).toEqual([['session', 404]]);
      const headOn = heads.findIndex((lines) => lines.length > 0);
      const blobHeads = fleet.routers[headOn]!.accessLog().filter((line) => line.method === 'HEAD' && line.path?.startsWith(`/v2/${repo}/blobs/`));
      expect(blobHeads, repo).toEqual([]);
    }
  }, 120_000);

  it('mvn deploys a SNAPSHOT twice: build 2, version metadata from snapshots, hosted metadata without the group’s extra version', async () => {
    const jar = join(maven.dir, 'app-1.1-SNAPSHOT.jar');
    await writeFile(jar, makeJar({ 'app.txt': 'app 1.1-SNAPSHOT\n' }));
    const url = `http://${MAVEN_HOST}:${fleet.haproxy.port}/`;
    const dir = artifactDir(APP);
    const text = async (where: 'releases' | 'snapshots', relative: string) => (await repos.file(where, relative))?.toString('utf8');
    const builds: Array<{ buildNumber: number; timestamp: string }> = [];
    for (let i = 0; i < 2; i++) {
      const result = await maven.deployFile({ ...APP, version: '1.1-SNAPSHOT', url, file: jar });
      expect(result.code, `${result.command}\n${mvnErrors(result)}`).toBe(0);
      builds.push(snapshotOf((await text('snapshots', `${dir}/1.1-SNAPSHOT/maven-metadata.xml`)) ?? ''));
    }
    // The second deploy read the version metadata the first wrote (from snapshots, not the group): build 2.
    expect(builds.map((build) => build.buildNumber)).toEqual([1, 2]);
    for (const [i, { timestamp }] of builds.entries()) {
      expect(await repos.file('snapshots', `${dir}/1.1-SNAPSHOT/app-1.1-${timestamp}-${i + 1}.jar`), `build ${i + 1}`).toBeDefined();
    }
    // The group answers the remote's metadata listing 0.9; read there, it would have been written back.
    const artifactMetadata = await text('snapshots', `${dir}/maven-metadata.xml`);
    expect(listedVersions(artifactMetadata ?? '')).toEqual(['1.1-SNAPSHOT']);
    expect(artifactMetadata).not.toContain('0.9');
    // The deploy's requests were spread over the three routers.
    for (const router of fleet.routers) expect(router.accessLog().some((line) => line.site === 'maven' && line.method === 'PUT')).toBe(true);
  }, 240_000);

  it('Redis restarted in the middle: no router exits, pushes go on, the fallback shows on /metrics, Redis is used again', async () => {
    const image = await buildImage(join(work, 'restart'), { tag: 'r', layers: [{ randomBytes: 64 * KiB, seed: 'scale-out-restart' }] });
    await redis.kill();
    await until('every router sees Redis away', async () => {
      const up = await Promise.all(fleet.admins.map((admin) => storeMetric(admin, 'registry_router_sessions_store_up')));
      return up.every((value) => value === 0);
    });
    // A push while it is away: each router keeps its own sessions; plain pushes need none.
    await copy(image.ref(), dockerRef(fleet.haproxy.urls[0]!, 'team/away', 'r'), { retryTimes: 0 });
    expect(await inspectDigest(dockerRef(hostedA.url, 'team/away', 'r'))).toBe(image.manifestDigest);
    const fallbacks = await Promise.all(fleet.admins.map((admin) => storeMetric(admin, 'registry_router_sessions_fallbacks_total')));
    expect(fallbacks.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    const readyz = await (await fetch(`http://127.0.0.1:${fleet.admins[0]}/readyz`)).json();
    expect(readyz.problems).toEqual([expect.stringContaining('sessions: redis store')]);

    await redis.restart();
    await until('every router uses Redis again', async () => {
      const up = await Promise.all(fleet.admins.map((admin) => storeMetric(admin, 'registry_router_sessions_store_up')));
      return up.every((value) => value === 1);
    });
    for (const router of fleet.routers) expect(router.child.exitCode, router.stderr()).toBeNull();
    for (const router of fleet.routers) expect(router.stderr()).toMatch(/sessions store redis:\/\/127\.0\.0\.1:\d+\/0 is back/);
    // Shared again: a push of a tag the group serves lands on hosted.
    const after = await ctrPush(fleet.haproxy, 'team/after');
    expect([after.status, after.digest]).toEqual([200, base.manifestDigest]);
  }, 120_000);

  it('skopeo pushes while one router is killed mid-push: retried where needed, every reported success pulls back with equal digests', async () => {
    const images = await Promise.all(
      [0, 1, 2, 3].map((i) => buildImage(join(work, `kill-${i}`), { tag: `k${i}`, layers: [{ randomBytes: 16 * 1024 * KiB, seed: `scale-out-kill-${i}` }] })),
    );
    const victim = fleet.routers[1]!;
    const inFlight = async () => {
      const status = await (await fetch(`http://127.0.0.1:${fleet.admins[1]}/status.json`)).json();
      return (status.sites as Array<{ name: string; transfers: Array<{ method: string }> }>).find((site) => site.name === 'main')!.transfers;
    };
    let done = 0;
    const runs: string[][] = images.map(() => []);
    // skopeo's own retry (--retry-times) covers what it deems retryable (a registry error code, a
    // refused connection); skopeo 1.9.3 gives up on an upload whose connection the balancer closed
    // ("use of closed network connection"), so the job runs it again, as a CI job retries a step.
    const push = async (image: BuiltImage, i: number) => {
      for (let run = 0; run < 3; run++) {
        const result = await tryCopy(image.ref(), dockerRef(fleet.haproxy.urls[0]!, `team/kill${i}`, `k${i}`), { retryTimes: 3 });
        runs[i]!.push(`exit ${result.code} ${result.stderr.trim()}`);
        if (result.code === 0) return result;
      }
      return undefined;
    };
    const pushes = images.map((image, i) => push(image, i).finally(() => done++));
    // Killed while it carries an upload of these pushes.
    await until('an upload in flight on the victim', async () => (await inFlight()).some((transfer) => transfer.method !== 'HEAD'), 60_000);
    await victim.stop('SIGKILL');
    expect(done, 'pushes over before the kill').toBeLessThan(images.length);
    const results = await Promise.all(pushes);
    const story = runs.map((lines, i) => `push ${i}: ${lines.join(' | ')}`).join('\n');
    console.info(`scale-out: skopeo pushes with a router killed mid-push:\n${story}`);
    const succeeded = results.flatMap((result, i) => (result ? [i] : []));
    expect(succeeded, story).toEqual([0, 1, 2, 3]);
    for (const i of succeeded) {
      const pulled = await inspectDigest(dockerRef(fleet.haproxy.urls[0]!, `team/kill${i}`, `k${i}`));
      expect(pulled, `team/kill${i}`).toBe(images[i]!.manifestDigest);
      const out = join(work, `pulled-${i}`);
      await copy(dockerRef(fleet.haproxy.urls[0]!, `team/kill${i}`, `k${i}`), `oci:${out}:k${i}`);
    }
    for (const router of [fleet.routers[0]!, fleet.routers[2]!]) expect(router.child.exitCode).toBeNull();
  }, 180_000);
});
