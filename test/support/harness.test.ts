/**
 * Smoke test of the e2e harness itself: real docker-registry and skopeo
 * processes, no mocks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, blobDigest, blobStream, downloadBlob, headBlob, headManifest, uploadBlob } from './blob.ts';
import { seedGroupOnlyImage } from './group.ts';
import { buildImage, type BuiltImage } from './image.ts';
import { freePort } from './ports.ts';
import { startRegistry, type Registry } from './registry.ts';
import { copy, dockerRef, inspectDigest, tryCopy } from './skopeo.ts';

const MiB = 1024 * 1024;

describe('e2e harness', () => {
  const registries: Registry[] = [];
  const dirs: string[] = [];
  let H: Registry;
  let G: Registry;
  let work: string;
  let imgA: BuiltImage;

  async function tmp(prefix: string): Promise<string> {
    const d = await mkdtemp(path.join(os.tmpdir(), `rr-harness-${prefix}-`));
    dirs.push(d);
    return d;
  }

  async function registry(...args: Parameters<typeof startRegistry>): Promise<Registry> {
    const r = await startRegistry(...args);
    registries.push(r);
    return r;
  }

  beforeAll(async () => {
    H = await registry({ name: 'hosted' });
    G = await registry({ name: 'group', proxyRemote: H.url });
    work = await tmp('work');
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(registries.map((r) => r.destroy()));
    await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('freePort gives a bindable loopback port', async () => {
    const p = await freePort();
    expect(p).toBeGreaterThan(1023);
    expect(p).toBeLessThan(65536);
  });

  it('registries answer /v2/', async () => {
    for (const r of [H, G]) {
      const res = await fetch(`${r.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    }
  });

  it('builds images that share a base layer', async () => {
    const layout = path.join(work, 'layout');
    imgA = await buildImage(layout, {
      tag: 'a',
      seed: 'image-a',
      layers: [
        { randomBytes: 2 * MiB, seed: 'shared-base' },
        { files: { 'etc/app.conf': 'name=a\n', 'usr/share/app/readme.txt': 'hello' } },
        { randomBytes: 64 * 1024 },
      ],
    });
    const imgB = await buildImage(layout, {
      tag: 'b',
      seed: 'image-b',
      layers: [{ randomBytes: 2 * MiB, seed: 'shared-base' }, { files: { 'etc/app.conf': 'name=b\n' } }],
    });
    expect(imgA.layerDigests).toHaveLength(3);
    expect(imgB.layerDigests[0]).toBe(imgA.layerDigests[0]);
    expect(imgB.layerDigests[1]).not.toBe(imgA.layerDigests[1]);
    expect(imgB.manifestDigest).not.toBe(imgA.manifestDigest);
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([imgA.manifestDigest, imgB.manifestDigest].sort());
    // Layers are real tar archives (GNU tar can list them).
    const listing = execFileSync('tar', ['-tzf', path.join(layout, 'blobs', 'sha256', imgA.layerDigests[1]!.slice(7))], {
      encoding: 'utf8',
    });
    expect(listing.split('\n').filter(Boolean)).toEqual(['etc/', 'etc/app.conf', 'usr/', 'usr/share/', 'usr/share/app/', 'usr/share/app/readme.txt']);
    expect(await inspectDigest(imgA.ref())).toBe(imgA.manifestDigest);
  });

  it('pushes to hosted and pulls the same digests through the group', async () => {
    await copy(imgA.ref(), dockerRef(H.url, 'team/app', '1.0'));
    expect(await inspectDigest(dockerRef(H.url, 'team/app', '1.0'))).toBe(imgA.manifestDigest);

    const pulled = await tmp('pulled');
    await copy(dockerRef(G.url, 'team/app', '1.0'), `oci:${pulled}:1.0`);
    expect(await inspectDigest(`oci:${pulled}:1.0`)).toBe(imgA.manifestDigest);
    const manifest = JSON.parse(await readFile(path.join(pulled, 'blobs', 'sha256', imgA.manifestDigest.slice(7)), 'utf8')) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    expect(manifest.config.digest).toBe(imgA.configDigest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(imgA.layerDigests);

    const head = await headManifest(G.url, 'team/app', '1.0');
    expect(head.status).toBe(200);
    expect(head.digest).toBe(imgA.manifestDigest);
  });

  it('refuses pushes to the proxy (group)', async () => {
    const res = await tryCopy(imgA.ref(), dockerRef(G.url, 'team/pushed-to-group', '1.0'));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unsupported/i);
    const post = await fetch(`${G.url}/v2/team/pushed-to-group/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(await post.text()).toContain('UNSUPPORTED');
  });

  it('seeds an image that only the group holds', async () => {
    const seeded = await seedGroupOnlyImage({ hosted: H, group: G, name: 'vendor/only-in-group', tag: '7' });
    expect((await headManifest(H.url, 'vendor/only-in-group', '7')).status).toBe(404);
    const g = await headManifest(G.url, 'vendor/only-in-group', '7');
    expect(g.status).toBe(200);
    expect(g.digest).toBe(seeded.manifestDigest);
    for (const d of seeded.layerDigests) {
      expect((await headBlob(H.url, 'vendor/only-in-group', d)).status).toBe(404);
    }
    const pulled = await tmp('group-only');
    await copy(dockerRef(G.url, 'vendor/only-in-group', '7'), `oci:${pulled}:7`);
    expect(await inspectDigest(`oci:${pulled}:7`)).toBe(seeded.manifestDigest);
    // G still proxies H afterwards.
    expect(G.options.proxyRemote).toBe(H.url);
    expect((await headManifest(G.url, 'team/app', '1.0')).status).toBe(200);
  }, 30_000);

  it('streams a 64 MiB blob into hosted and back out through the group', async () => {
    const size = 64 * MiB;
    const up = await uploadBlob(H.url, 'big/blob', size, { seed: 'big' });
    expect(up.bytes).toBe(size);
    expect(up.digest).toBe(await blobDigest(size, 'big'));
    const down = await downloadBlob(G.url, 'big/blob', up.digest);
    expect(down.status).toBe(200);
    expect(down.bytes).toBe(size);
    expect(down.digest).toBe(up.digest);
    expect(`sha256:${down.sha256}`).toBe(up.digest);
  }, 30_000);

  it('can abort an upload midway', async () => {
    const ac = new AbortController();
    const upload = uploadBlob(H.url, 'big/aborted', 32 * MiB, {
      signal: ac.signal,
      onProgress: (n) => {
        if (n >= 4 * MiB) ac.abort();
      },
    });
    await expect(upload).rejects.toThrow();
    // blobStream gives the same bytes as uploads with that seed.
    let n = 0;
    for await (const c of blobStream(3 * MiB + 5, 'x')) n += (c as Buffer).length;
    expect(n).toBe(3 * MiB + 5);
    // The registry survived.
    expect((await fetch(`${H.url}/v2/`)).status).toBe(200);
  });

  it('supports htpasswd auth (bcrypt via htpasswd -B)', async () => {
    const A = await registry({ name: 'auth', htpasswd: { user: 'alice', password: 's3cret' } });
    expect((await fetch(`${A.url}/v2/`)).status).toBe(401);
    const ok = await fetch(`${A.url}/v2/`, { headers: { authorization: basicAuth('alice', 's3cret') } });
    expect(ok.status).toBe(200);
    expect((await tryCopy(imgA.ref(), dockerRef(A.url, 'x/y', '1'))).code).not.toBe(0);
    await copy(imgA.ref(), dockerRef(A.url, 'x/y', '1'), { creds: 'alice:s3cret' });
    expect(await inspectDigest(dockerRef(A.url, 'x/y', '1'), { creds: 'alice:s3cret' })).toBe(imgA.manifestDigest);
    await A.destroy();
  }, 20_000);

  it('supports token auth configuration', async () => {
    const d = await tmp('token');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=test-token-issuer',
        '-keyout',
        path.join(d, 'key.pem'),
        '-out',
        path.join(d, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const T = await registry({
      name: 'token',
      token: {
        realm: 'http://127.0.0.1:1/token',
        service: 'registry.test',
        issuer: 'test-issuer',
        rootCertPem: await readFile(path.join(d, 'cert.pem'), 'utf8'),
      },
    });
    const res = await fetch(`${T.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="http://127.0.0.1:1/token",service="registry.test"');
    await T.destroy();
  });

  it('reports a registry that cannot start, with its log', async () => {
    const port = H.port; // already taken
    await expect(startRegistry({ name: 'clash', port, startTimeoutMs: 5000 })).rejects.toThrow(/did not become ready[\s\S]*address already in use/);
  });
});
