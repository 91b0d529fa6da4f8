/**
 * Thin wrapper around `/usr/bin/skopeo` (1.9.x) for tests.
 *
 * Hermetic by default: every call runs with `--insecure-policy` (no
 * /etc/containers/policy.json needed), a private empty auth file
 * (`--authfile` + REGISTRY_AUTH_FILE) and HOME/XDG_RUNTIME_DIR pointing at a
 * private temp dir, so the user's ~/.docker/config.json or
 * $XDG_RUNTIME_DIR/containers/auth.json are never read. Credentials are passed
 * explicitly with `--creds`/`--src-creds`/`--dest-creds`.
 *
 * Plain-http registries: with `--tls-verify=false` containers/image first tries
 * HTTPS (without verification) and falls back to HTTP, which is what we need
 * for http://127.0.0.1:PORT. `tlsVerify` therefore defaults to false.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SKOPEO_BIN = process.env.SKOPEO_BIN ?? '/usr/bin/skopeo';

export interface SkopeoResult {
  stdout: string;
  /** Raw stdout bytes (e.g. for `inspect --raw`). */
  stdoutBuffer: Buffer;
  stderr: string;
  code: number;
}

export interface SkopeoRunOptions {
  /** Kill skopeo after this many ms (default 120000). */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** Skip the global `--insecure-policy` flag. */
  noInsecurePolicy?: boolean;
}

let sandbox: { dir: string; authfile: string } | undefined;

/**
 * Private HOME + empty auth file. One fixed dir per user under os.tmpdir(),
 * reused across runs (it only holds an empty auth file), so nothing needs
 * cleaning up even when a test worker is killed.
 */
export function skopeoSandbox(): { dir: string; authfile: string } {
  if (sandbox) return sandbox;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const dir = path.join(os.tmpdir(), `rr-skopeo-sandbox-${uid}`);
  mkdirSync(path.join(dir, 'run'), { recursive: true, mode: 0o700 });
  const authfile = path.join(dir, 'auth.json');
  if (!existsSync(authfile)) {
    const tmp = `${authfile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ auths: {} }));
    renameSync(tmp, authfile);
  }
  sandbox = { dir, authfile };
  return sandbox;
}

/** Runs skopeo with the given arguments (global `--insecure-policy` is prepended). */
export function skopeo(args: string[], opts: SkopeoRunOptions = {}): Promise<SkopeoResult> {
  const sb = skopeoSandbox();
  const fullArgs = opts.noInsecurePolicy ? args : ['--insecure-policy', ...args];
  return new Promise<SkopeoResult>((resolve, reject) => {
    const child = spawn(SKOPEO_BIN, fullArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: sb.dir,
        XDG_RUNTIME_DIR: path.join(sb.dir, 'run'),
        XDG_CONFIG_HOME: path.join(sb.dir, 'config'),
        REGISTRY_AUTH_FILE: sb.authfile,
        TMPDIR: os.tmpdir(),
        ...opts.env,
      },
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      const stdoutBuffer = Buffer.concat(out);
      resolve({
        stdout: stdoutBuffer.toString('utf8'),
        stdoutBuffer,
        stderr: Buffer.concat(err).toString('utf8') + (sig ? `\n[skopeo killed by ${sig}]` : ''),
        code: code ?? 128,
      });
    });
  });
}

export class SkopeoError extends Error {
  constructor(
    readonly args: string[],
    readonly result: SkopeoResult,
  ) {
    super(`skopeo ${args.join(' ')} exited ${result.code}:\n${result.stderr.trim()}`);
    this.name = 'SkopeoError';
  }
}

export interface CopyOptions extends SkopeoRunOptions {
  /** "user:password" for both docker:// sides (overridden by srcCreds/destCreds). */
  creds?: string;
  srcCreds?: string;
  destCreds?: string;
  /** Directory with ca.crt / client certs, for both sides (overridden by srcCertDir/destCertDir). */
  certDir?: string;
  srcCertDir?: string;
  destCertDir?: string;
  /** Default false: also allows plain http. Applies to both sides unless srcTlsVerify/destTlsVerify given. */
  tlsVerify?: boolean;
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  /** Destination manifest format: -f oci | v2s2 | v2s1. */
  format?: 'oci' | 'v2s2' | 'v2s1';
  /** --preserve-digests: fail instead of converting/recompressing. */
  preserveDigests?: boolean;
  /** --retry-times */
  retryTimes?: number;
  /** Further raw flags placed before SRC DEST. */
  extraArgs?: string[];
}

function isDocker(ref: string): boolean {
  return ref.startsWith('docker://');
}

/** Builds the `copy` argument list (exported for tests that want to tweak it). */
export function copyArgs(src: string, dest: string, o: CopyOptions = {}): string[] {
  const sb = skopeoSandbox();
  const args = ['copy', '--quiet', '--authfile', sb.authfile];
  const tls = o.tlsVerify ?? false;
  if (isDocker(src)) {
    args.push(`--src-tls-verify=${String(o.srcTlsVerify ?? tls)}`);
    const c = o.srcCreds ?? o.creds;
    if (c !== undefined) args.push('--src-creds', c);
    else args.push('--src-no-creds');
    const cd = o.srcCertDir ?? o.certDir;
    if (cd !== undefined) args.push('--src-cert-dir', cd);
  }
  if (isDocker(dest)) {
    args.push(`--dest-tls-verify=${String(o.destTlsVerify ?? tls)}`);
    const c = o.destCreds ?? o.creds;
    if (c !== undefined) args.push('--dest-creds', c);
    else args.push('--dest-no-creds');
    const cd = o.destCertDir ?? o.certDir;
    if (cd !== undefined) args.push('--dest-cert-dir', cd);
  }
  if (o.format) args.push('--format', o.format);
  if (o.preserveDigests) args.push('--preserve-digests');
  if (o.retryTimes !== undefined) args.push('--retry-times', String(o.retryTimes));
  if (o.extraArgs) args.push(...o.extraArgs);
  args.push(src, dest);
  return args;
}

/** `skopeo copy SRC DEST`; throws SkopeoError (with stderr) on failure. */
export async function copy(src: string, dest: string, opts: CopyOptions = {}): Promise<SkopeoResult> {
  const args = copyArgs(src, dest, opts);
  const res = await skopeo(args, opts);
  if (res.code !== 0) throw new SkopeoError(args, res);
  return res;
}

/** Like copy() but never throws on a non-zero exit (for "must fail" assertions). */
export async function tryCopy(src: string, dest: string, opts: CopyOptions = {}): Promise<SkopeoResult> {
  return skopeo(copyArgs(src, dest, opts), opts);
}

export interface InspectOptions extends SkopeoRunOptions {
  creds?: string;
  certDir?: string;
  tlsVerify?: boolean;
}

function inspectArgs(ref: string, o: InspectOptions, extra: string[]): string[] {
  const sb = skopeoSandbox();
  const args = ['inspect', '--authfile', sb.authfile, ...extra];
  if (isDocker(ref)) {
    args.push(`--tls-verify=${String(o.tlsVerify ?? false)}`);
    if (o.creds !== undefined) args.push('--creds', o.creds);
    else args.push('--no-creds');
    if (o.certDir !== undefined) args.push('--cert-dir', o.certDir);
  }
  args.push(ref);
  return args;
}

/** Raw manifest bytes as served (`skopeo inspect --raw`). */
export async function inspectRaw(ref: string, opts: InspectOptions = {}): Promise<Buffer> {
  const args = inspectArgs(ref, opts, ['--raw']);
  const res = await skopeo(args, opts);
  if (res.code !== 0) throw new SkopeoError(args, res);
  return res.stdoutBuffer;
}

/** Manifest digest ("sha256:...") = sha256 of the raw manifest bytes. */
export async function inspectDigest(ref: string, opts: InspectOptions = {}): Promise<string> {
  const raw = await inspectRaw(ref, opts);
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/** `docker://HOST/NAME:TAG` from a base URL like http://127.0.0.1:5000. */
export function dockerRef(baseUrl: string, name: string, tagOrDigest: string): string {
  const host = new URL(baseUrl).host;
  const sep = tagOrDigest.startsWith('sha256:') ? '@' : ':';
  return `docker://${host}/${name}${sep}${tagOrDigest}`;
}
