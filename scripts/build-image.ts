/**
 * `npm run build:image`: the router's OCI image for linux/amd64 and linux/arm64 under one index,
 * assembled without a container engine from the single executables (`npm run build:bin`) and what
 * they need at run time, taken from Debian packages:
 *
 *   layer 1 (base)  glibc's loader and the libraries the executable links to (its ELF NEEDED list,
 *                   read with `readelf`, out of libc6 for that architecture), the Mozilla CA bundle
 *                   (ca-certificates), /etc/passwd and /etc/group with the user registry-router
 *                   (65532), /etc/nsswitch.conf, /tmp, /proc and /dev (mount points), /etc/registry-router/
 *                   (mount the config here), the packages' copyright files
 *   layer 2         /usr/local/bin/registry-router
 *
 *   tsx scripts/build-image.ts [--bin DIR] [--out DIR] [--platform linux/amd64,linux/arm64] [--tag T]
 *
 * Writes an OCI image layout in `--out` (default dist/image): `skopeo copy --all
 * oci:dist/image:<version> docker://registry/registry-router:<version>`. The packages come from
 * the machine's own apt sources (signatures checked by apt), fetched into a private apt state under
 * node_modules/.cache/registry-router-image, so the machine's dpkg and apt lists are not touched
 * and no foreign architecture is added. Needs Debian's apt-get, dpkg-deb and readelf (binutils).
 *
 * Why a script and not umoci or buildah: the content is a dozen files in two layers; writing the
 * tar here makes them byte-for-byte reproducible (sorted entries, uid/gid 0, one mtime:
 * SOURCE_DATE_EPOCH or the last commit's time), and the two-platform index is a few lines of JSON.
 * umoci builds one image per tag from an unpacked root (the index by hand anyway, mtimes from the
 * files); buildah needs a containers-storage driver and state under /var/lib/containers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { gzip } from 'node:zlib';
import pkg from '../package.json' with { type: 'json' };
import { binaryName, sha256File, type Target } from './build-bin.ts';

const ROOT = resolve(import.meta.dirname, '..');
const gzipAsync = promisify(gzip);

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The image's user: a fixed number (no name lookup needed), the one distroless images use for "nonroot". */
export const IMAGE_UID = 65532;
/** Where the image runs the executable and looks for its config. */
export const IMAGE_BIN = '/usr/local/bin/registry-router';
export const IMAGE_CONFIG = '/etc/registry-router/router.json';
/** Ports the image declares: plain and TLS listeners of an unprivileged config (map them to 80/443 with -p). */
export const IMAGE_PORTS = ['8080/tcp', '8443/tcp'];

interface Platform {
  os: 'linux';
  architecture: 'amd64' | 'arm64';
  variant?: string;
  /** The executable built for it, and Debian's name for the architecture. */
  target: Target;
  debArch: string;
}

export const PLATFORMS: Record<string, Platform> = {
  'linux/amd64': { os: 'linux', architecture: 'amd64', target: 'linux-x64', debArch: 'amd64' },
  'linux/arm64': { os: 'linux', architecture: 'arm64', variant: 'v8', target: 'linux-arm64', debArch: 'arm64' },
};

// ---------------------------------------------------------------- a reproducible tar

/** One layer entry; `path` without a leading slash, directories without a trailing one. */
export type Entry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'file'; mode: number; data: Buffer }
  | { path: string; type: 'symlink'; target: string };

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width - 1) throw new Error(`tar: ${value} does not fit a ${width}-byte field`);
  return `${text.padStart(width - 1, '0')}\0`;
}

/** A ustar header; names over 100 bytes are split into prefix/name as ustar allows. */
function header(entry: Entry, mtime: number): Buffer {
  const block = Buffer.alloc(512);
  let name = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    [prefix, name] = [name.slice(0, cut), name.slice(cut + 1)];
    if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(name) > 100) throw new Error(`tar: path too long: ${entry.path}`);
  }
  block.write(name, 0, 100);
  block.write(octal(entry.type === 'symlink' ? 0o777 : entry.mode, 8), 100);
  block.write(octal(0, 8), 108);
  block.write(octal(0, 8), 116);
  block.write(octal(entry.type === 'file' ? entry.data.length : 0, 12), 124);
  block.write(octal(mtime, 12), 136);
  block.write(' '.repeat(8), 148);
  block.write(entry.type === 'dir' ? '5' : entry.type === 'symlink' ? '2' : '0', 156);
  if (entry.type === 'symlink') block.write(entry.target, 157, 100);
  block.write('ustar\0' + '00', 257);
  block.write('root', 265);
  block.write('root', 297);
  block.write(prefix, 345, 155);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

/**
 * A tar archive of `entries`, sorted by path, every parent directory present (0755 unless
 * listed), owner root, one mtime: the same input gives the same bytes.
 */
export function tarOf(entries: Entry[], mtime: number): Buffer {
  const byPath = new Map(entries.map((entry) => [entry.path, entry]));
  for (const entry of entries) {
    for (let dir = posix.dirname(entry.path); dir !== '.'; dir = posix.dirname(dir)) {
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'dir', mode: 0o755 });
    }
  }
  const parts: Buffer[] = [];
  for (const path of [...byPath.keys()].sort()) {
    const entry = byPath.get(path)!;
    parts.push(header(entry, mtime));
    if (entry.type === 'file') parts.push(entry.data, Buffer.alloc((512 - (entry.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- Debian packages

const CACHE = join(ROOT, 'node_modules', '.cache', 'registry-router-image');

/**
 * The .deb files of `packages` (e.g. `libc6:arm64`), downloaded with apt from the machine's
 * sources into a private apt state (lists and archives under CACHE): the host's dpkg database and
 * lists stay as they are, and no foreign architecture is added to it. Fetched on every build, so an
 * image built today has today's security updates (apt's lists are only re-read when they changed).
 */
export function debianPackages(packages: string[], architectures: string[]): Map<string, string> {
  const debs = join(CACHE, 'debs');
  const apt = [
    '-q',
    '-o',
    `Dir::State::Lists=${join(CACHE, 'apt', 'lists')}`,
    '-o',
    `Dir::Cache=${join(CACHE, 'apt', 'cache')}`,
    '-o',
    'APT::Architectures=',
    ...architectures.flatMap((arch) => ['-o', `APT::Architectures::=${arch}`]),
    '-o',
    'Acquire::Languages=none',
    // The download lands in a folder apt's sandbox user may not write to (a checkout owned by root).
    '-o',
    'APT::Sandbox::User=root',
  ];
  rmSync(debs, { recursive: true, force: true });
  for (const dir of ['apt/lists/partial', 'apt/cache/archives/partial', 'debs']) mkdirSync(join(CACHE, dir), { recursive: true });
  try {
    execFileSync('apt-get', [...apt, 'update'], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('apt-get', [...apt, 'download', ...packages], { cwd: debs, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(
      `could not download ${packages.join(' ')} with apt-get (Debian's apt and the machine's apt sources are needed): ${stderr || (error as Error).message}`,
    );
  }
  const found = new Map<string, string>();
  for (const spec of packages) {
    const [name, arch = 'all'] = spec.split(':');
    const file = readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith(`_${arch}.deb`));
    if (!file) throw new Error(`apt-get download left out ${spec}`);
    found.set(spec, join(debs, file));
  }
  return found;
}

/** `dpkg-deb -x` into a new folder under `work`; the package's version from its control file. */
function unpackDeb(deb: string, work: string): { root: string; version: string } {
  const root = join(work, posix.basename(deb, '.deb'));
  execFileSync('dpkg-deb', ['-x', deb, root]);
  return { root, version: execFileSync('dpkg-deb', ['-f', deb, 'Version'], { encoding: 'utf8' }).trim() };
}

/** The ELF interpreter (PT_INTERP) and NEEDED libraries of an executable of any architecture (readelf, binutils). */
export function elfNeeds(path: string): { interpreter: string; needed: string[] } {
  const headers = execFileSync('readelf', ['-lW', path], { encoding: 'utf8' });
  const dynamic = execFileSync('readelf', ['-dW', path], { encoding: 'utf8' });
  const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(headers)?.[1];
  if (!interpreter) throw new Error(`${path}: no ELF interpreter found (readelf -l): is it a dynamically linked executable?`);
  return { interpreter, needed: [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!) };
}

/**
 * The entries for file `path` (relative) of an unpacked package: a symlink comes with what it
 * points to (followed inside the package, absolute targets taken from its root), a file as it is.
 */
function fromPackage(root: string, path: string, out: Map<string, Entry>): void {
  if (out.has(path)) return;
  const full = join(root, path);
  const stat = lstatSync(full, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path} is not in ${posix.basename(root)}`);
  if (stat.isSymbolicLink()) {
    const target = readlinkSync(full);
    out.set(path, { path, type: 'symlink', target });
    fromPackage(root, target.startsWith('/') ? target.slice(1) : posix.join(posix.dirname(path), target), out);
  } else {
    out.set(path, { path, type: 'file', mode: stat.mode & 0o777, data: readFileSync(full) });
  }
}

/** The base layer's entries for `binary` on `platform`, and the packages' versions. */
export function baseEntries(binary: string, libc: { root: string; version: string }, certs: { root: string; version: string }): Entry[] {
  const files = new Map<string, Entry>();
  const { interpreter, needed } = elfNeeds(binary);
  fromPackage(libc.root, interpreter.slice(1), files);
  // The libraries sit in the package's multiarch folder (lib/x86_64-linux-gnu, lib/aarch64-linux-gnu).
  const multiarch = readdirSync(join(libc.root, 'lib')).filter((name) => name.endsWith('-linux-gnu'));
  for (const soname of needed) {
    const dir = multiarch.find((d) => existsSync(join(libc.root, 'lib', d, soname)));
    if (!dir) throw new Error(`${binary} needs ${soname}, which libc6 does not have: add the package that does to build-image.ts`);
    fromPackage(libc.root, `lib/${dir}/${soname}`, files);
  }
  fromPackage(libc.root, 'usr/share/doc/libc6/copyright', files);
  fromPackage(certs.root, 'usr/share/doc/ca-certificates/copyright', files);
  // What update-ca-certificates would write: every certificate of the Mozilla set, in name order.
  const mozilla = join(certs.root, 'usr/share/ca-certificates/mozilla');
  const bundle = readdirSync(mozilla)
    .filter((name) => name.endsWith('.crt'))
    .sort()
    .map((name) => readFileSync(join(mozilla, name), 'utf8').trimEnd() + '\n')
    .join('');
  const text = (path: string, content: string, mode = 0o644): Entry => ({ path, type: 'file', mode, data: Buffer.from(content) });
  return [
    ...files.values(),
    text('etc/ssl/certs/ca-certificates.crt', bundle),
    text('etc/passwd', `root:x:0:0:root:/root:/usr/sbin/nologin\nregistry-router:x:${IMAGE_UID}:${IMAGE_UID}:registry-router:/nonexistent:/usr/sbin/nologin\n`),
    text('etc/group', `root:x:0:\nregistry-router:x:${IMAGE_UID}:\n`),
    text('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
    { path: 'etc/registry-router', type: 'dir', mode: 0o755 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    // Mount points a runtime fills (the executable aborts at start without /proc): there for a plain chroot too.
    { path: 'proc', type: 'dir', mode: 0o555 },
    { path: 'dev', type: 'dir', mode: 0o755 },
  ];
}

// ---------------------------------------------------------------- the layout

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** JSON as the blobs hold it (compact, keys in insertion order: the same input gives the same digest). */
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function putBlob(layout: string, mediaType: string, data: Buffer): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
  return { mediaType, digest, size: data.length };
}

export interface ImageOptions {
  /** Folder holding the executables (`registry-router-linux-<arch>`) and SHA256SUMS. */
  binDir: string;
  /** The OCI layout to write (replaced). */
  out: string;
  platforms?: string[];
  /** The tag in index.json (org.opencontainers.image.ref.name). Default: the package version. */
  tag?: string;
  /** Seconds since the epoch for every mtime and `created`. Default: SOURCE_DATE_EPOCH, else the last commit's time. */
  epoch?: number;
  /** The commit for the revision label. Default: the checkout's last commit (none outside git). */
  revision?: string;
}

export interface BuiltImage {
  layout: string;
  tag: string;
  index: Descriptor;
  manifests: Array<Descriptor & { config: Record<string, unknown>; layers: Descriptor[] }>;
}

/** The last commit (hash and time), or nothing outside a git checkout. */
function gitHead(): { revision?: string; time?: number } {
  try {
    const [revision, time] = execFileSync('git', ['log', '-1', '--format=%H %ct'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(' ');
    return { revision, time: Number(time) };
  } catch {
    return {};
  }
}

/**
 * Builds the image for `platforms` into an OCI layout: one manifest per platform under an image
 * index, tagged `tag` in index.json. The executables must match their SHA256SUMS line.
 */
export async function buildImage(options: ImageOptions): Promise<BuiltImage> {
  const platforms = (options.platforms ?? Object.keys(PLATFORMS)).map((name) => {
    const platform = PLATFORMS[name];
    if (!platform) throw new Error(`--platform: unknown platform "${name}" (one or more of: ${Object.keys(PLATFORMS).join(', ')})`);
    return platform;
  });
  const head = gitHead();
  const epoch = options.epoch ?? (process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : (head.time ?? 0));
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`SOURCE_DATE_EPOCH must be a whole number of seconds, got "${process.env.SOURCE_DATE_EPOCH}"`);
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const tag = options.tag ?? pkg.version;
  const revision = options.revision ?? head.revision;

  const sumsPath = join(options.binDir, 'SHA256SUMS');
  if (!existsSync(sumsPath)) throw new Error(`${sumsPath} is missing: build the executables first (npm run build:bin, or --bin DIR)`);
  const sums = readFileSync(sumsPath, 'utf8');
  const binaries = new Map<Platform, string>();
  for (const platform of platforms) {
    const path = join(options.binDir, binaryName(platform.target));
    if (!existsSync(path)) throw new Error(`${path} is missing: build it first (npm run build:bin)`);
    const hex = await sha256File(path);
    if (!sums.includes(`${hex}  ${binaryName(platform.target)}\n`)) throw new Error(`${path} does not match ${sumsPath}: build again (npm run build:bin)`);
    binaries.set(platform, path);
  }

  const debs = debianPackages(
    ['ca-certificates', ...platforms.map((p) => `libc6:${p.debArch}`)],
    platforms.map((p) => p.debArch),
  );
  const work = await mkdtemp(join(tmpdir(), 'rr-image-'));
  const layout = `${resolve(options.out)}.partial`;
  await rm(layout, { recursive: true, force: true });
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  try {
    const certs = unpackDeb(debs.get('ca-certificates')!, work);
    const labels: Record<string, string> = {
      'org.opencontainers.image.title': pkg.name,
      'org.opencontainers.image.description': pkg.description,
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.created': created,
      ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
    };
    // Both platforms' layers are compressed at once (zlib runs on the thread pool).
    const manifests = await Promise.all(
      platforms.map(async (platform) => {
        const binary = binaries.get(platform)!;
        const libc = unpackDeb(debs.get(`libc6:${platform.debArch}`)!, work);
        const base = tarOf(baseEntries(binary, libc, certs), epoch);
        const app = tarOf([{ path: IMAGE_BIN.slice(1), type: 'file', mode: 0o755, data: await readFile(binary) }], epoch);
        const layers = [];
        for (const tar of [base, app]) layers.push({ tar, gz: await gzipAsync(tar, { level: 6 }) });
        const layerDescriptors = await Promise.all(layers.map(({ gz }) => putBlob(layout, MEDIA.layer, gz)));
        const config = {
          created,
          architecture: platform.architecture,
          os: platform.os,
          ...(platform.variant ? { variant: platform.variant } : {}),
          config: {
            User: `${IMAGE_UID}:${IMAGE_UID}`,
            ExposedPorts: Object.fromEntries(IMAGE_PORTS.map((port) => [port, {}])),
            Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `REGISTRY_ROUTER_CONFIG=${IMAGE_CONFIG}`, 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
            Entrypoint: [IMAGE_BIN],
            Cmd: ['serve'],
            WorkingDir: '/',
            Labels: labels,
            StopSignal: 'SIGTERM',
          },
          rootfs: { type: 'layers', diff_ids: layers.map(({ tar }) => sha256(tar)) },
          history: [
            { created, created_by: `scripts/build-image.ts: base from Debian libc6 ${libc.version} (${platform.debArch}), ca-certificates ${certs.version}` },
            { created, created_by: `scripts/build-image.ts: ${IMAGE_BIN} (${binaryName(platform.target)} ${pkg.version})` },
          ],
        };
        const configDescriptor = await putBlob(layout, MEDIA.config, json(config));
        const manifest = {
          schemaVersion: 2,
          mediaType: MEDIA.manifest,
          config: configDescriptor,
          layers: layerDescriptors,
          annotations: { 'org.opencontainers.image.created': created },
        };
        const descriptor = await putBlob(layout, MEDIA.manifest, json(manifest));
        const { os, architecture, variant } = platform;
        return { ...descriptor, platform: { architecture, os, ...(variant ? { variant } : {}) }, config, layers: layerDescriptors };
      }),
    );
    const imageIndex = {
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: manifests.map(({ mediaType, digest, size, platform }) => ({ mediaType, digest, size, platform })),
      annotations: { 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.created': created },
    };
    const index = await putBlob(layout, MEDIA.index, json(imageIndex));
    await writeFile(join(layout, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(layout, 'index.json'),
      json({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
    );
    await rm(options.out, { recursive: true, force: true });
    await mkdir(dirname(resolve(options.out)), { recursive: true });
    await rename(layout, options.out);
    return { layout: resolve(options.out), tag, index, manifests };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(layout, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] && resolve(process.argv[1])}`) {
  try {
    const { values } = parseArgs({
      options: {
        bin: { type: 'string', default: 'dist' },
        out: { type: 'string', default: 'dist/image' },
        platform: { type: 'string' },
        tag: { type: 'string' },
      },
    });
    const started = Date.now();
    const image = await buildImage({ binDir: resolve(values.bin), out: resolve(values.out), platforms: values.platform?.split(','), tag: values.tag });
    for (const m of image.manifests) {
      const size = m.layers.reduce((sum, layer) => sum + layer.size, 0);
      console.error(`${m.platform!.os}/${m.platform!.architecture}: ${m.digest} (layers ${(size / 1e6).toFixed(1)} MB compressed)`);
    }
    console.error(`wrote ${image.layout} (index ${image.index.digest}, tag ${image.tag}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.error(`push: skopeo copy --all oci:${values.out}:${image.tag} docker://REGISTRY/registry-router:${image.tag}`);
  } catch (error) {
    console.error(`build-image: ${(error as Error).message}`);
    process.exit(1);
  }
}
