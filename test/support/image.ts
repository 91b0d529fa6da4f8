/**
 * Builds OCI images without docker: writes an OCI image layout
 * (oci-layout, index.json, blobs/sha256/<hex>) that `skopeo copy oci:DIR:TAG ...`
 * consumes. Layers are real ustar archives (written here, streamed, never held
 * whole in memory), gzip-compressed by default; the config carries the correct
 * rootfs.diff_ids (sha256 of the uncompressed tar).
 *
 * Everything is deterministic: fixed mtimes/uids/modes, sorted entries, and
 * pseudo-random layer content derived from a seed. So two builds with the same
 * layer spec produce the same layer digest, which is how tests get
 * "image B whose base layer equals image A's base layer":
 *
 *   const a = await buildImage(dir, { tag: "a", layers: [{ randomBytes: 1e6, seed: "base" }, { files: { "a.txt": "A" } }] });
 *   const b = await buildImage(dir, { tag: "b", layers: [{ randomBytes: 1e6, seed: "base" }, { files: { "b.txt": "B" } }] });
 *   // a.layerDigests[0] === b.layerDigests[0]
 *
 * (`{ files }` layers share whenever their files are equal.) Several images may
 * live in one layout dir (one index.json entry per tag; blobs are shared).
 *
 * `skopeo copy oci:DIR:TAG docker://...` keeps the manifest bytes, so the
 * registry's manifest digest equals manifestDigest (gzip layers, default
 * format). `format: "v2s2"` converts media types and therefore changes the
 * manifest (and config) digest; layer digests stay.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { randomChunks } from './random.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

export type LayerSpec =
  /** Files by path ("etc/app.conf"); parent directories are added automatically. */
  | { files: Record<string, string | Buffer> }
  /**
   * One file of deterministic pseudo-random bytes. Content depends only on
   * (seed, randomBytes); seed defaults to `${opts.seed ?? "seed"}/layer-${index}`.
   */
  | { randomBytes: number; seed?: string; path?: string };

export interface BuildImageOptions {
  layers: LayerSpec[];
  /** Default seed for random layers without their own seed; also put in a config label. */
  seed?: string;
  /** Tag recorded in index.json (org.opencontainers.image.ref.name). Default "latest". */
  tag?: string;
  /**
   * gzip layers (default true). With false, skopeo 1.9 gzips the layers when
   * pushing to docker:// (so registry digests differ from layerDigests) unless
   * copy() is given `preserveDigests: true` (or extraArgs ["--dest-compress=false"]).
   */
  gzip?: boolean;
  /** Extra config labels (change the config, hence the manifest digest). */
  labels?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuiltImage {
  /** "oci:DIR" — append ":TAG" (or use ref()). */
  layout: string;
  /** The layout directory. */
  dir: string;
  /** The tag this build was recorded under. */
  tag: string;
  /** `oci:DIR:TAG`; defaults to this build's tag. */
  ref(tag?: string): string;
  manifestDigest: string;
  manifestSize: number;
  /** Raw manifest bytes (digest = sha256 of these). */
  manifest: Buffer;
  configDigest: string;
  /** Compressed layer digests, base layer first. */
  layerDigests: string[];
  layerSizes: number[];
  diffIds: string[];
  /** Config + layers descriptors. */
  blobs: Descriptor[];
}

// ---------------------------------------------------------------- tar writer

const BLOCK = 512;

function octal(n: number, width: number): string {
  // width includes the trailing NUL
  const s = n.toString(8);
  if (s.length > width - 1) throw new Error(`tar: value ${n} too large for field`);
  return s.padStart(width - 1, '0') + '\0';
}

function splitName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) {
      return { name: rest, prefix };
    }
  }
  throw new Error(`tar: path too long for ustar: ${name}`);
}

export function tarHeader(entry: { name: string; size: number; type: 'file' | 'dir'; mode?: number }): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitName(entry.name);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(entry.type === 'dir' ? 0 : entry.size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: epoch, for determinism
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(entry.type === 'dir' ? '5' : '0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(octal(0, 8), 329, 'ascii');
  h.write(octal(0, 8), 337, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function padding(size: number): Buffer {
  const r = size % BLOCK;
  return Buffer.alloc(r === 0 ? 0 : BLOCK - r, 0);
}

function normalize(p: string): string {
  const n = path.posix.normalize(p.replace(/^\/+/, ''));
  if (n === '.' || n.startsWith('..')) throw new Error(`tar: bad path ${p}`);
  return n.replace(/\/+$/, '');
}

function parentDirs(p: string): string[] {
  const parts = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** Streams a ustar archive for one layer spec. */
async function* tarStream(spec: LayerSpec, defaultSeed: string): AsyncGenerator<Buffer> {
  if ('files' in spec) {
    const files = new Map<string, Buffer>();
    for (const [p, content] of Object.entries(spec.files)) {
      files.set(normalize(p), typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    }
    const dirs = new Set<string>();
    for (const p of files.keys()) for (const d of parentDirs(p)) dirs.add(d);
    const entries = [...[...dirs].map((d) => ({ p: d, dir: true })), ...[...files.keys()].map((p) => ({ p, dir: false }))];
    entries.sort((a, b) => (a.p < b.p ? -1 : a.p > b.p ? 1 : 0));
    for (const e of entries) {
      if (e.dir) {
        yield tarHeader({ name: `${e.p}/`, size: 0, type: 'dir' });
      } else {
        const data = files.get(e.p) ?? Buffer.alloc(0);
        yield tarHeader({ name: e.p, size: data.length, type: 'file' });
        yield data;
        yield padding(data.length);
      }
    }
  } else {
    const p = normalize(spec.path ?? 'random.bin');
    for (const d of parentDirs(p)) yield tarHeader({ name: `${d}/`, size: 0, type: 'dir' });
    yield tarHeader({ name: p, size: spec.randomBytes, type: 'file' });
    yield* randomChunks(spec.randomBytes, spec.seed ?? defaultSeed);
    yield padding(spec.randomBytes);
  }
  yield Buffer.alloc(BLOCK * 2, 0); // end-of-archive
}

// ---------------------------------------------------------------- layout

class HashTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function putBlobBytes(blobDir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash('sha256').update(data).digest('hex');
  const target = path.join(blobDir, hex);
  if (!(await exists(target))) {
    const tmp = path.join(blobDir, `.tmp-${randomUUID()}`);
    await writeFile(tmp, data);
    await rename(tmp, target);
  }
  return { digest: `sha256:${hex}`, size: data.length };
}

async function writeLayer(blobDir: string, spec: LayerSpec, defaultSeed: string, gzip: boolean): Promise<{ digest: string; size: number; diffId: string }> {
  const tmp = path.join(blobDir, `.tmp-${randomUUID()}`);
  const rawTap = new HashTap();
  const outTap = new HashTap();
  try {
    if (gzip) {
      await pipeline(tarStream(spec, defaultSeed), rawTap, createGzip({ level: 1 }), outTap, createWriteStream(tmp));
    } else {
      await pipeline(tarStream(spec, defaultSeed), rawTap, outTap, createWriteStream(tmp));
    }
    const hex = outTap.hash.digest('hex');
    const target = path.join(blobDir, hex);
    if (await exists(target)) await rm(tmp, { force: true });
    else await rename(tmp, target);
    return { digest: `sha256:${hex}`, size: outTap.bytes, diffId: `sha256:${rawTap.hash.digest('hex')}` };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Array<Descriptor & { annotations?: Record<string, string> }>;
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const locks = new Map<string, Promise<unknown>>();

function goArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return process.arch; // arm64, arm, ppc64, s390x, riscv64 match GOARCH
  }
}

async function buildImageUnlocked(dir: string, opts: BuildImageOptions): Promise<BuiltImage> {
  const tag = opts.tag ?? 'latest';
  const gzip = opts.gzip !== false;
  const blobDir = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const layers: Array<{ digest: string; size: number; diffId: string }> = [];
  for (const [i, spec] of opts.layers.entries()) {
    layers.push(await writeLayer(blobDir, spec, `${opts.seed ?? 'seed'}/layer-${i}`, gzip));
  }

  const config = {
    created: '1970-01-01T00:00:00Z',
    architecture: goArch(),
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'registry-router.test.seed': opts.seed ?? '', ...opts.labels },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `test layer ${i}` })),
  };
  const configDesc = await putBlobBytes(blobDir, Buffer.from(JSON.stringify(config)));
  const layerMediaType = gzip ? OCI_LAYER_GZIP : OCI_LAYER_TAR;
  const manifestObj = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDesc.digest, size: configDesc.size },
    layers: layers.map((l) => ({ mediaType: layerMediaType, digest: l.digest, size: l.size })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  const manifestDesc = await putBlobBytes(blobDir, manifest);

  const indexPath = path.join(dir, 'index.json');
  let index: IndexJson = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  if (await exists(indexPath)) index = JSON.parse(await readFile(indexPath, 'utf8')) as IndexJson;
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  index.manifests.push({
    mediaType: OCI_MANIFEST,
    digest: manifestDesc.digest,
    size: manifestDesc.size,
    annotations: { [REF_NAME]: tag },
  });
  const tmpIndex = `${indexPath}.${randomUUID()}.tmp`;
  await writeFile(tmpIndex, JSON.stringify(index, null, 2));
  await rename(tmpIndex, indexPath);

  const absDir = path.resolve(dir);
  return {
    layout: `oci:${absDir}`,
    dir: absDir,
    tag,
    ref: (t?: string) => `oci:${absDir}:${t ?? tag}`,
    manifestDigest: manifestDesc.digest,
    manifestSize: manifestDesc.size,
    manifest,
    configDigest: configDesc.digest,
    layerDigests: layers.map((l) => l.digest),
    layerSizes: layers.map((l) => l.size),
    diffIds: layers.map((l) => l.diffId),
    blobs: [
      { mediaType: OCI_CONFIG, digest: configDesc.digest, size: configDesc.size },
      ...layers.map((l) => ({ mediaType: layerMediaType, digest: l.digest, size: l.size })),
    ],
  };
}

/**
 * Writes (or adds to) the OCI layout at `dir` and records the image under
 * `opts.tag` ("latest" by default). Calls on the same dir are serialized.
 */
export function buildImage(dir: string, opts: BuildImageOptions): Promise<BuiltImage> {
  const key = path.resolve(dir);
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => buildImageUnlocked(dir, opts));
  locks.set(key, next);
  void next
    .finally(() => {
      if (locks.get(key) === next) locks.delete(key);
    })
    .catch(() => undefined);
  return next;
}
