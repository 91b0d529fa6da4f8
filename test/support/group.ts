/**
 * "Group-only" images: an image that the group G (a Distribution proxy whose
 * remote is the hosted registry H) serves by tag, while H has never held it
 * (HEAD H/v2/<name>/manifests/<tag> → 404). In Nexus terms: an image that
 * comes from another member of the group (e.g. a Docker Hub proxy).
 *
 * How (verified against docker-registry 2.8.2):
 *  1. push the image with skopeo to a throw-away third registry "hub";
 *  2. restart G with proxy.remoteurl = hub (same port, same storage dir);
 *  3. GET the manifest by tag and every blob through G, which makes G cache
 *     the tag, the manifest (synchronously) and the blobs (asynchronously:
 *     the proxy re-fetches each blob from the remote in a background
 *     goroutine), then wait until every blob's repository link and data file
 *     exist in G's storage;
 *  4. restart G with its original remote (H) and stop the hub.
 *
 * Why it then works: 2.8's proxy tag service asks the remote for the tag and,
 * when the remote fails (H answers 404), falls back to the locally cached tag;
 * manifests and blobs are served from local storage before the remote is
 * consulted. The cache TTL is 7 days (hard-coded in 2.8), so nothing expires
 * during a test.
 *
 * Rejected alternative: push to H, pull through G, then DELETE the manifest on
 * H (needs storage.delete.enabled on H). It also works, but H keeps the blobs
 * (repository-scoped blob deletes are needed too) and H must run with deletes
 * enabled, so "H never saw it" is not true; the hub way leaves H untouched.
 *
 * Note: while G restarts (≈100–300 ms, twice) it refuses connections; seed
 * before starting traffic through the router, not concurrently.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { headBlob, headManifest, MANIFEST_ACCEPT } from './blob.ts';
import { buildImage, type BuiltImage } from './image.ts';
import { hasRepoBlobOnDisk, startRegistry, type Registry } from './registry.ts';
import { copy, dockerRef } from './skopeo.ts';

export interface SeedGroupOnlyOptions {
  /** Hosted registry H (must not end up with the image). */
  hosted: Registry;
  /** Group G: a proxy registry whose proxyRemote is hosted.url. */
  group: Registry;
  /** Repository name, e.g. "library/only-in-group". */
  name: string;
  tag: string;
  /**
   * Image to seed (an OCI layout from buildImage). If omitted a small 2-layer
   * image is built from `seed` (default `${name}:${tag}`).
   */
  image?: BuiltImage;
  seed?: string;
  /** Extra headers for the requests to G (e.g. Authorization if G has auth). */
  groupHeaders?: Record<string, string>;
  /** Max wait for G to cache all blobs on disk. Default 30000 ms. */
  timeoutMs?: number;
}

export interface GroupOnlyImage {
  name: string;
  tag: string;
  image: BuiltImage;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

async function drain(url: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { method: 'GET', headers });
  await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
  return res.statusCode;
}

export async function seedGroupOnlyImage(opts: SeedGroupOnlyOptions): Promise<GroupOnlyImage> {
  const { hosted, group, name, tag } = opts;
  const original = group.options;
  if (original.proxyRemote === undefined) throw new Error('seedGroupOnlyImage: group is not a proxy registry');
  const headers = opts.groupHeaders ?? {};

  let tmpLayout: string | undefined;
  let image = opts.image;
  if (!image) {
    tmpLayout = await mkdtemp(path.join(os.tmpdir(), 'rr-group-only-img-'));
    const seed = opts.seed ?? `${name}:${tag}`;
    image = await buildImage(tmpLayout, {
      seed,
      tag,
      layers: [{ randomBytes: 256 * 1024 }, { files: { 'group-only.txt': seed } }],
    });
  }

  const hub = await startRegistry({ name: 'hub' });
  try {
    await copy(image.ref(), dockerRef(hub.url, name, tag));
    await group.restart({ proxyRemote: hub.url, proxyAuth: undefined });
    try {
      const m = await request(`${group.url}/v2/${name}/manifests/${tag}`, {
        method: 'GET',
        headers: { accept: MANIFEST_ACCEPT, ...headers },
      });
      await m.body.dump();
      if (m.statusCode !== 200) throw new Error(`seedGroupOnlyImage: GET manifest via group → ${m.statusCode}`);
      const blobs = [image.configDigest, ...image.layerDigests];
      for (const d of blobs) {
        const st = await drain(`${group.url}/v2/${name}/blobs/${d}`, headers);
        if (st !== 200) throw new Error(`seedGroupOnlyImage: GET blob ${d} via group → ${st}`);
      }
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      for (;;) {
        const missing = blobs.filter((d) => !hasRepoBlobOnDisk(group, name, d));
        if (missing.length === 0) break;
        if (Date.now() > deadline) {
          throw new Error(`seedGroupOnlyImage: group did not cache ${missing.join(', ')}; log:\n${await group.logTail()}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await group.restart({ proxyRemote: original.proxyRemote, proxyAuth: original.proxyAuth });
    }
  } finally {
    await hub.destroy();
    if (tmpLayout) await rm(tmpLayout, { recursive: true, force: true });
  }

  // Verify the promise we make.
  const onHosted = await headManifest(hosted.url, name, tag);
  if (onHosted.status !== 404) throw new Error(`seedGroupOnlyImage: hosted answers ${onHosted.status}, expected 404`);
  const onGroup = await headManifest(group.url, name, tag, { headers });
  if (onGroup.status !== 200 || onGroup.digest !== image.manifestDigest) {
    throw new Error(`seedGroupOnlyImage: group answers ${onGroup.status} digest ${onGroup.digest ?? '-'}, expected 200 ${image.manifestDigest}`);
  }
  for (const d of [image.configDigest, ...image.layerDigests]) {
    const b = await headBlob(group.url, name, d, { headers });
    if (b.status !== 200) throw new Error(`seedGroupOnlyImage: group HEAD blob ${d} → ${b.status}`);
  }

  return {
    name,
    tag,
    image,
    manifestDigest: image.manifestDigest,
    configDigest: image.configDigest,
    layerDigests: image.layerDigests,
  };
}
