/**
 * containerd as a second real docker client (test/support/containerd.ts: a private daemon, driven
 * with `ctr`), pushing and pulling through the router on each runtime.
 *
 * One router per runtime with two docker sites, told apart by Host:
 * - `127.0.0.1:PORT` ("main"): read → group A, a pull-through of hosted A; write → hosted A.
 * - `localhost:PORT` ("remote"): read → group B, a pull-through of a third registry R that holds
 *   `team/app:1` (in Nexus terms: another member of the group, e.g. a Docker Hub proxy);
 *   write → hosted B, a fresh empty registry per runtime.
 * Group A, hosted A, R and group B are shared by the runtimes (each runtime pushes its own image
 * to hosted A; group B and R are only read).
 *
 * What `ctr images push --plain-http ROUTER/team/app:1` (containerd 1.6.20) sends, recorded with a
 * logging proxy in front of a registry and in the router's access log on every runtime (the blobs
 * go in parallel, so their order varies; no `/v2/` ping when no credentials are given):
 *
 *   HEAD /v2/team/app/blobs/<config>   Accept: application/vnd.oci.image.config.v1+json, *\/*     → 404 (write)
 *   HEAD /v2/team/app/blobs/<layer>    Accept: application/vnd.oci.image.layer.v1.tar+gzip, *\/*  → 404 (write), each layer
 *   POST /v2/team/app/blobs/uploads/   Content-Length: 0, one per missing blob                 → 202 (write)
 *   PUT  /v2/team/app/blobs/uploads/<uuid>?_state=…&digest=<blob>: the whole blob with
 *        Content-Length (no PATCH, not chunked), one per missing blob                          → 201 (write)
 *   HEAD /v2/team/app/manifests/1      Accept: application/vnd.oci.image.manifest.v1+json, *\/*  → (*)
 *   PUT  /v2/team/app/manifests/1      only if that HEAD did not answer 200 with the digest
 *                                      being pushed                                            → 201 (write)
 *
 * (*) With the docker preset as it stands that HEAD is a read: group B answers 200 with R's
 * digest, which is the digest being pushed, so ctr reports success without the manifest PUT:
 * hosted B ends up with the three blobs but no `team/app:1`. The right answer is hosted's (404,
 * then the PUT goes out); the access log should show that HEAD with `"role":"session"`.
 * (A blob HEAD answering 200 skips that blob's POST and PUT the same way.)
 *
 * `ctr content fetch --plain-http ROUTER/team/app:TAG` (a pull without unpacking) sends:
 *   HEAD /v2/team/app/manifests/TAG  Accept: docker v2, docker list, OCI manifest, OCI index, *\/*
 *   (a resolve: it goes to the group even inside the client's push session; the push's own check above
 *   names one type)
 *   GET  /v2/team/app/manifests/<digest>, then GET /v2/team/app/blobs/<digest> for config and layers
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headManifest } from '../support/blob.ts';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef } from '../support/skopeo.ts';

const MiB = 1024 * 1024;

interface AccessLine {
  site?: string;
  method?: string;
  path?: string;
  status?: number;
  role?: string;
  upstream?: string;
}

function accessLog(router: RouterProcess, site: string): AccessLine[] {
  return router
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as AccessLine)
    .filter((line) => line.site === site);
}

/** A line is written once its body is done: give the last ones a moment after ctr exits. */
async function settledLog(router: RouterProcess, site: string, done: (log: AccessLine[]) => boolean): Promise<AccessLine[]> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && !done(accessLog(router, site))) await new Promise((r) => setTimeout(r, 25));
  return accessLog(router, site);
}

function show(lines: AccessLine[]): string {
  return lines.map((l) => `${l.method} ${l.path} ${l.status} ${l.role}`).join('\n');
}

let containerd: Containerd;
let work: string;
let hostedA: Registry;
let groupA: Registry;
let remote: Registry;
let groupB: Registry;
/** The image R holds as team/app:1, and its name in containerd's store (namespace "seed"). */
let remoteImage: BuiltImage;
let remoteLocal: string;
const SEED_NS = 'seed';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-containerd-e2e-'));
  [containerd, hostedA, remote] = await Promise.all([startContainerd(), startRegistry({ name: 'hosted-a' }), startRegistry({ name: 'remote' })]);
  [groupA, groupB, remoteImage] = await Promise.all([
    startRegistry({ name: 'group-a', proxyRemote: hostedA.url }),
    startRegistry({ name: 'group-b', proxyRemote: remote.url }),
    buildImage(join(work, 'remote'), {
      tag: '1',
      layers: [{ randomBytes: MiB, seed: 'ctr-remote-base' }, { files: { 'etc/remote': 'from R\n' } }],
    }),
  ]);
  await copy(remoteImage.ref(), dockerRef(remote.url, 'team/app', '1'));
  // A second tag only the group serves (hosted never gets it): pulled while the client pushes.
  await copy(remoteImage.ref(), dockerRef(remote.url, 'team/app', 'base'));
  // The client has the image because it pulled it from R (e.g. docker.io) directly.
  remoteLocal = `${remote.host}/team/app:1`;
  const fetched = await containerd.pull(remoteLocal, { namespace: SEED_NS });
  expect(fetched.digest).toBe(remoteImage.manifestDigest);
});

afterAll(async () => {
  await containerd?.stop();
  await Promise.allSettled([hostedA, groupA, remote, groupB].map((r) => r?.destroy()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(RUNTIMES)('containerd through the router on %s', (runtime) => {
  let hostedB: Registry;
  let router: RouterProcess;

  beforeAll(async () => {
    hostedB = await startRegistry({ name: `hosted-b-${runtime}` });
    router = await startRouter(runtime, {
      sites: [
        { name: 'main', hosts: ['127.0.0.1'], preset: 'docker', upstreams: { read: groupA.url, write: hostedA.url } },
        { name: 'remote', hosts: ['localhost'], preset: 'docker', upstreams: { read: groupB.url, write: hostedB.url } },
      ],
    });
  });

  afterAll(async () => {
    await router?.stop();
    await hostedB?.destroy();
  });

  it('ctr pushes an image into hosted and pulls it back through the group with equal digests', async () => {
    const image = await buildImage(join(work, `app-${runtime}`), {
      tag: runtime,
      layers: [{ randomBytes: MiB, seed: `ctr-app-${runtime}` }, { files: { 'app/runtime': `${runtime}\n` } }],
    });
    const local = await containerd.importImage(image, `import/${runtime}/app`);
    const ref = `127.0.0.1:${router.port}/team/app:${runtime}`;
    await containerd.push(ref, local);

    const onHosted = await headManifest(hostedA.url, 'team/app', runtime);
    expect(onHosted.status).toBe(200);
    expect(onHosted.digest).toBe(image.manifestDigest);

    // A fresh namespace has none of the blobs (isolated content store): a real download.
    const pulled = await containerd.pull(ref, { namespace: `pull-${runtime}` });
    expect(pulled.digest).toBe(image.manifestDigest);
    // The bytes came through the router.
    const blobGets = (log: AccessLine[], digest: string) => log.filter((l) => l.method === 'GET' && l.path === `/v2/team/app/blobs/${digest}`);
    const log = await settledLog(router, 'main', (lines) => image.blobs.every((b) => blobGets(lines, b.digest).length > 0));
    for (const { digest } of image.blobs)
      expect(
        blobGets(log, digest).map((l) => l.status),
        show(log),
      ).toEqual([200]);
    const manifestPuts = log.filter((l) => l.method === 'PUT' && l.path === `/v2/team/app/manifests/${runtime}`);
    expect(
      manifestPuts.map((l) => [l.status, l.role]),
      show(log),
    ).toEqual([[201, 'write']]);
  });

  it('ctr pushes a tag the group already serves from another member: the manifest reaches hosted', async () => {
    expect((await headManifest(hostedB.url, 'team/app', '1')).status).toBe(404);
    const viaGroup = await headManifest(groupB.url, 'team/app', '1');
    expect([viaGroup.status, viaGroup.digest]).toEqual([200, remoteImage.manifestDigest]);

    const ref = `localhost:${router.port}/team/app:1`;
    await containerd.tag(remoteLocal, ref, { namespace: SEED_NS });
    await containerd.push(ref, undefined, { namespace: SEED_NS });

    const isBlobPut = (l: AccessLine) => l.method === 'PUT' && l.path?.startsWith('/v2/team/app/blobs/uploads/') === true;
    const isManifestHead = (l: AccessLine) => l.method === 'HEAD' && l.path === '/v2/team/app/manifests/1';
    const log = await settledLog(router, 'remote', (lines) => lines.some(isManifestHead) && lines.filter(isBlobPut).length >= remoteImage.blobs.length);
    // The blobs went to hosted either way.
    const blobPuts = log.filter(isBlobPut);
    expect(
      blobPuts.map((l) => [l.status, l.role]),
      show(log),
    ).toEqual(remoteImage.blobs.map(() => [201, 'write']));
    // The manifest must have reached hosted: ctr skips the PUT when that HEAD answers the digest.
    const onHosted = await headManifest(hostedB.url, 'team/app', '1');
    expect([onHosted.status, onHosted.digest], `hosted after the push; router log:\n${show(log)}`).toEqual([200, remoteImage.manifestDigest]);
    const heads = log.filter(isManifestHead);
    expect(
      heads.map((l) => l.role),
      show(log),
    ).toEqual(['session']);
  });

  it('a pull of a tag only the group serves, by the client that has just pushed to that repository, comes from the group', async () => {
    // Right after the push above: the client's push session of team/app is open (pushSessions.idle: 60 s).
    expect((await headManifest(hostedB.url, 'team/app', 'base')).status).toBe(404);
    const ref = `localhost:${router.port}/team/app:base`;
    const pulled = await containerd.pull(ref, { namespace: `pull-base-${runtime}` });
    expect(pulled.digest).toBe(remoteImage.manifestDigest);
    // ctr's resolve is a HEAD with every manifest type and */*: the group's, not the session's.
    const isBaseHead = (l: AccessLine) => l.method === 'HEAD' && l.path === '/v2/team/app/manifests/base';
    const log = await settledLog(router, 'remote', (lines) => lines.some(isBaseHead));
    expect(
      log.filter(isBaseHead).map((l) => [l.status, l.role]),
      show(log),
    ).toEqual([[200, 'read']]);
  });
});
