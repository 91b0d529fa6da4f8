/**
 * A private containerd daemon (Debian package `containerd`, 1.6.x: `/usr/bin/containerd` and
 * `/usr/bin/ctr`) for end-to-end tests, driven with `ctr` as a second real docker client.
 *
 * Findings (containerd 1.6.20~ds1, as root, no systemd, verified by hand and by
 * test/e2e/containerd.test.ts):
 *
 * - Everything lives in one temp dir: `root`, `state`, `grpc.address` and `ttrpc.address` (unix
 *   sockets), and `plugins."io.containerd.internal.v1.opt".path` (without it the `opt` plugin
 *   creates /opt/containerd). Nothing is written outside the dir.
 * - `disabled_plugins`: the CRI plugin (not needed; it wants CNI dirs) and the aufs, btrfs,
 *   devmapper and zfs snapshotters (they only log "skip"/"failed to load" here). With that list
 *   every loaded plugin reports `ok` and the daemon boots in ~15 ms. Nothing here unpacks layers
 *   (`content fetch`, `images import --no-unpack`), so no snapshotter is used or mounted.
 * - `plugins."io.containerd.metadata.v1.bolt".content_sharing_policy = "isolated"`: with the
 *   default ("shared") a blob already in the daemon is never fetched again, in any namespace, so a
 *   pull right after a push would move no bytes. Isolated, each namespace has to fetch (or import)
 *   its own copy: pull into a fresh namespace to make a real download.
 * - In 1.6 `ctr` itself talks to the registry (the daemon only stores content); `--plain-http`
 *   allows http:// registries. `--hosts-dir` points at an empty dir of ours, so a host's
 *   /etc/containerd/certs.d never changes what the tests do.
 * - `ctr content fetch --plain-http REF` fetches the manifest, config and layers AND records an
 *   image named REF (no unpack). `ctr images pull` would also unpack into a snapshotter.
 * - `ctr images push --plain-http REMOTE [LOCAL]` pushes the image LOCAL (default REMOTE) from the
 *   namespace's store, manifest bytes unchanged (same digest).
 * - `ctr images import --no-unpack --base-name NAME ARCHIVE` of an OCI archive whose index names
 *   the image by tag only (`skopeo copy oci:DIR:TAG oci-archive:FILE:TAG`) records `NAME:TAG`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltImage } from './image.ts';
import { copy } from './skopeo.ts';

export const CONTAINERD_BIN = process.env.CONTAINERD_BIN ?? '/usr/bin/containerd';
export const CTR_BIN = process.env.CTR_BIN ?? '/usr/bin/ctr';

/** Default bound on one ctr call. */
const CTR_TIMEOUT_MS = 60_000;

export interface CtrResult {
  args: string[];
  stdout: string;
  stderr: string;
  code: number;
}

export class CtrError extends Error {
  constructor(
    readonly result: CtrResult,
    daemonLog: string,
  ) {
    super(
      `ctr ${result.args.join(' ')} exited ${result.code}:\n${(result.stderr || result.stdout).trim()}` +
        `\n--- containerd log (tail) ---\n${daemonLog.split('\n').slice(-20).join('\n')}`,
    );
    this.name = 'CtrError';
  }
}

export interface CtrOptions {
  /** containerd namespace (`ctr -n`); default the daemon's `namespace`. */
  namespace?: string;
  /** Kill ctr after this many ms (default 60000). */
  timeoutMs?: number;
}

export interface PushOptions extends CtrOptions {
  /** Extra flags before the refs (e.g. `--http-dump`). */
  extraArgs?: string[];
}

export interface Containerd {
  /** The temp dir holding config.toml, root/, state/, the sockets. */
  dir: string;
  socket: string;
  /** The default namespace of every call ("test"). */
  namespace: string;
  /** Runs `ctr -a SOCKET -n NS ARGS…`; throws CtrError (with ctr's and the daemon's output) unless it exits 0. */
  ctr(args: string[], opts?: CtrOptions): Promise<CtrResult>;
  /** Like ctr() but never throws on a non-zero exit. */
  tryCtr(args: string[], opts?: CtrOptions): Promise<CtrResult>;
  /**
   * `ctr content fetch --plain-http REF`: manifest, config and layers into the namespace's store
   * and an image record named REF (no unpack). Returns the image's manifest digest.
   */
  pull(ref: string, opts?: CtrOptions): Promise<{ digest: string; result: CtrResult }>;
  /** `ctr images push --plain-http REF [LOCAL]`. */
  push(ref: string, localRef?: string, opts?: PushOptions): Promise<CtrResult>;
  /** `ctr images tag --force SRC DST`. */
  tag(src: string, dst: string, opts?: CtrOptions): Promise<CtrResult>;
  /**
   * Puts an OCI layout image (test/support/image.ts) into the store as `name:tag`: skopeo writes an
   * OCI archive, `ctr images import --no-unpack --base-name name` reads it. Returns `name:tag`.
   */
  importImage(image: BuiltImage, name: string, opts?: CtrOptions & { tag?: string }): Promise<string>;
  /** Manifest digest of the image record `ref` (from `ctr images ls`), or undefined. */
  imageDigest(ref: string, opts?: CtrOptions): Promise<string | undefined>;
  /** The daemon's stdout+stderr so far. */
  log(): string;
  /** Kills the daemon and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function requireBinary(bin: string): void {
  if (!existsSync(bin)) {
    throw new Error(
      `containerd e2e: ${bin} is missing. Install the Debian package \`containerd\` (it ships containerd and ctr; ` +
        `bash .ci/run installs it), or point CONTAINERD_BIN / CTR_BIN at the binaries.`,
    );
  }
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CtrResult> {
  return new Promise<CtrResult>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        args,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (timedOut ? `\n[ctr killed after ${timeoutMs} ms]` : signal ? `\n[ctr killed by ${signal}]` : ''),
        code: code ?? 128,
      });
    });
  });
}

function config(dir: string, socket: string): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'version = 2',
    `root = ${q(join(dir, 'root'))}`,
    `state = ${q(join(dir, 'state'))}`,
    'disabled_plugins = [',
    '  "io.containerd.grpc.v1.cri",',
    '  "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.devmapper",',
    '  "io.containerd.snapshotter.v1.zfs",',
    ']',
    '',
    '[grpc]',
    `  address = ${q(socket)}`,
    '',
    '[ttrpc]',
    `  address = ${q(`${socket}.ttrpc`)}`,
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(dir, 'opt'))}`,
    '',
    '[plugins."io.containerd.metadata.v1.bolt"]',
    '  content_sharing_policy = "isolated"',
    '',
  ].join('\n');
}

export async function startContainerd(opts: { namespace?: string; startTimeoutMs?: number } = {}): Promise<Containerd> {
  requireBinary(CONTAINERD_BIN);
  requireBinary(CTR_BIN);
  const dir = await mkdtemp(join(tmpdir(), 'rr-containerd-'));
  const socket = join(dir, 'containerd.sock');
  // sun_path is 108 bytes; ttrpc's socket name is the longest.
  if (Buffer.byteLength(`${socket}.ttrpc`) > 107) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`containerd e2e: socket path ${socket}.ttrpc is too long for a unix socket: set a shorter TMPDIR`);
  }
  const hostsDir = join(dir, 'certs.d');
  await mkdir(hostsDir);
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, config(dir, socket));
  const namespace = opts.namespace ?? 'test';
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, TMPDIR: tmpdir() };

  const child = spawn(CONTAINERD_BIN, ['--config', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')));
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  void exited.then(() => live.delete(child));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const base = (ns: string | undefined) => ['-a', socket, '-n', ns ?? namespace];
  const tryCtr = (args: string[], o: CtrOptions = {}) => run(CTR_BIN, [...base(o.namespace), ...args], env, o.timeoutMs ?? CTR_TIMEOUT_MS);
  const ctr = async (args: string[], o: CtrOptions = {}) => {
    const res = await tryCtr(args, o);
    if (res.code !== 0) throw new CtrError(res, log);
    return res;
  };
  const registryFlags = ['--plain-http', '--hosts-dir', hostsDir];

  const imageDigest = async (ref: string, o: CtrOptions = {}) => {
    const res = await ctr(['images', 'ls'], o);
    // REF TYPE DIGEST SIZE PLATFORMS LABELS
    for (const line of res.stdout.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[0] === ref) return cols[2];
    }
    return undefined;
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`containerd e2e: cannot start ${CONTAINERD_BIN}: ${spawnError.message}`);
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      const text = log;
      await stop();
      throw new Error(`containerd exited (${child.exitCode ?? child.signalCode}) before answering on ${socket}:\n${text}`);
    }
    if (existsSync(socket) && (await tryCtr(['version'], { timeoutMs: 5000 })).code === 0) break;
    if (Date.now() > deadline) {
      const text = log;
      await stop();
      throw new Error(`containerd did not answer \`ctr -a ${socket} version\` within ${opts.startTimeoutMs ?? 15_000} ms:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    dir,
    socket,
    namespace,
    ctr,
    tryCtr,
    async pull(ref, o = {}) {
      const result = await ctr(['content', 'fetch', ...registryFlags, ref], o);
      const digest = await imageDigest(ref, o);
      if (!digest) throw new Error(`ctr content fetch ${ref}: no image record afterwards:\n${result.stdout}${result.stderr}`);
      return { digest, result };
    },
    push(ref, localRef, o = {}) {
      return ctr(['images', 'push', ...registryFlags, ...(o.extraArgs ?? []), ref, ...(localRef ? [localRef] : [])], o);
    },
    tag(src, dst, o = {}) {
      return ctr(['images', 'tag', '--force', src, dst], o);
    },
    async importImage(image, name, o = {}) {
      const tag = o.tag ?? image.tag;
      const archive = join(dir, `import-${Date.now()}-${Math.random().toString(36).slice(2)}.tar`);
      try {
        await copy(image.ref(tag), `oci-archive:${archive}:${tag}`);
        await ctr(['images', 'import', '--no-unpack', '--base-name', name, archive], o);
      } finally {
        await rm(archive, { force: true });
      }
      const ref = `${name}:${tag}`;
      const digest = await imageDigest(ref, o);
      if (digest !== image.manifestDigest) throw new Error(`ctr images import: ${ref} has digest ${digest ?? '(none)'}, expected ${image.manifestDigest}`);
      return ref;
    },
    imageDigest,
    log: () => log,
    stop,
  };
}
