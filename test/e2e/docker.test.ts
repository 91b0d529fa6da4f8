/**
 * docker push and pull through the router, with real registries on both sides and a real client:
 * a hosted docker-registry (write) and a second one in pull-through proxy mode over it as the
 * group (read), driven by skopeo. One suite per runtime.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBlob, headManifest, uploadBlob } from '../support/blob.ts';
import { seedGroupOnlyImage, type GroupOnlyImage } from '../support/group.ts';
import { buildImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { LIMITS, RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest } from '../support/skopeo.ts';

const MiB = 1024 * 1024;
/** The big-blob size; the issue asks for at least 1 GiB through each runtime. */
const BIG = Number(process.env.BIG_BLOB_MIB ?? 1024) * MiB;

describe.each(RUNTIMES)('docker through the router on %s', (runtime) => {
  let hosted: Registry;
  let group: Registry;
  let router: RouterProcess;
  let work: string;
  let groupOnly: GroupOnlyImage;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rr-docker-'));
    hosted = await startRegistry({ name: 'hosted' });
    group = await startRegistry({ name: 'group', proxyRemote: hosted.url });
    // Seeded before any traffic: seeding restarts the group twice.
    const base = await buildImage(join(work, 'base'), {
      tag: 'base',
      layers: [{ randomBytes: 3 * MiB, seed: 'shared-base' }, { files: { 'etc/os-release': 'ID=base\n' } }],
    });
    groupOnly = await seedGroupOnlyImage({ hosted, group, name: 'team/base', tag: '1.0', image: base });
    router = await startRouter(
      runtime,
      {
        sites: [
          {
            name: 'docker',
            hosts: ['127.0.0.1', 'localhost'],
            preset: 'docker',
            upstreams: { read: group.url, write: hosted.url },
          },
        ],
      },
      { quiet: true },
    );
  });

  afterAll(async () => {
    await router?.stop();
    await Promise.allSettled([hosted?.destroy(), group?.destroy()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes a multi-layer image and pulls it back with equal digests', async () => {
    const image = await buildImage(join(work, 'app'), {
      tag: 'v1',
      layers: [{ randomBytes: 4 * MiB, seed: 'app-base' }, { files: { 'app/config.json': '{"a":1}' } }, { randomBytes: 512 * 1024, seed: 'app-top' }],
    });
    await copy(image.ref(), dockerRef(router.url, 'team/app', 'v1'));
    // It landed in hosted (the write side), and reads come back through the group.
    expect(await inspectDigest(dockerRef(hosted.url, 'team/app', 'v1'))).toBe(image.manifestDigest);
    const pulled = join(work, 'pulled-app');
    await copy(dockerRef(router.url, 'team/app', 'v1'), `oci:${pulled}:v1`);
    expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);
    expect(await inspectDigest(dockerRef(router.url, 'team/app', 'v1'))).toBe(image.manifestDigest);
  });

  it('resolves a tag that only the group holds with HEAD (containerd does) and pulls it', async () => {
    expect((await headManifest(hosted.url, 'team/base', '1.0')).status).toBe(404);
    const head = await headManifest(router.url, 'team/base', '1.0');
    expect(head.status).toBe(200);
    expect(head.digest).toBe(groupOnly.manifestDigest);
    const pulled = join(work, 'pulled-base');
    await copy(dockerRef(router.url, 'team/base', '1.0'), `oci:${pulled}:1.0`);
    expect(await inspectDigest(`oci:${pulled}:1.0`)).toBe(groupOnly.manifestDigest);
  });

  it('pushes an image whose base layer the group already holds under that name while hosted does not', async () => {
    const derived = await buildImage(join(work, 'derived'), {
      tag: '2.0',
      layers: [{ randomBytes: 3 * MiB, seed: 'shared-base' }, { files: { 'app/bin': 'derived\n' } }],
    });
    expect(derived.layerDigests[0]).toBe(groupOnly.layerDigests[0]);
    await copy(derived.ref(), dockerRef(router.url, 'team/base', '2.0'));
    expect(await inspectDigest(dockerRef(hosted.url, 'team/base', '2.0'))).toBe(derived.manifestDigest);
  });

  const { rssBudgetMiB, rssWhy } = LIMITS[runtime];
  it(`streams a ${BIG / MiB} MiB blob up and down within ${rssBudgetMiB} MiB RSS${rssWhy ? ` (${rssWhy})` : ''}`, async () => {
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, router.rss())), 100);
    try {
      const upStarted = Date.now();
      const up = await uploadBlob(router.url, 'team/big', BIG, { seed: `big-${runtime}` });
      const upSeconds = (Date.now() - upStarted) / 1000;
      const downStarted = Date.now();
      const down = await downloadBlob(router.url, 'team/big', up.digest);
      const downSeconds = (Date.now() - downStarted) / 1000;
      expect(down.status).toBe(200);
      expect(down.bytes).toBe(BIG);
      expect(down.digest).toBe(up.digest);
      console.info(
        `${runtime}: ${BIG / MiB} MiB up ${(BIG / MiB / upSeconds).toFixed(0)} MiB/s, ` +
          `down ${(BIG / MiB / downSeconds).toFixed(0)} MiB/s, peak RSS ${(peak / MiB).toFixed(0)} MiB`,
      );
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(rssBudgetMiB * MiB);
  }, 300_000);
});
