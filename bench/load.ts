/**
 * Load the benchmark puts on a target: streamed blob pushes and pulls (the client only counts bytes;
 * the upload repeats one 1 MiB buffer whose digest is computed once up front), and `wrk` runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { randomChunks } from '../test/support/random.ts';
import { MANIFEST_TYPE } from './procs.ts';

export const MiB = 1024 * 1024;

/** One 1 MiB block of pseudo-random bytes; blobs are this block repeated. */
export async function patternBlock(): Promise<Buffer> {
  for await (const chunk of randomChunks(MiB, 'registry-router-bench')) return chunk;
  throw new Error('no bytes');
}

/** sha256 of `block` repeated `count` times. */
export function repeatedDigest(block: Buffer, count: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) hash.update(block);
  return `sha256:${hash.digest('hex')}`;
}

const agent = new Agent({ keepAlive: false });

interface Answer {
  status: number;
  location: string | undefined;
  bytes: number;
  text: string;
}

/** One reusable receive buffer: the client copies nothing but the first bytes of an answer. */
const RECEIVE = Buffer.allocUnsafe(1 << 20);

/**
 * One HTTP/1.1 exchange on a fresh raw socket. node:http's client tops out near 400–700 MiB/s
 * here (curl reaches 1.4 GiB/s on the same blob), which would make the client the bottleneck; a
 * socket reading into one fixed buffer and writing one repeated block keeps up with curl.
 * `upload` is sent as `count` copies of `block`, chunked (as docker's PATCH is), with
 * backpressure. The answer's body is counted (Content-Length, chunked or until close), and kept
 * as text only when small.
 */
function exchange(url: URL, method: string, headers: Record<string, string>, upload?: { block: Buffer; count: number }, deadline = Infinity): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let status = 0;
    let location: string | undefined;
    let text = '';
    let mode: 'head' | 'length' | 'chunked' | 'close' = 'head';
    let left = 0; // body bytes still expected (length), or of the current chunk (chunked)
    let chunkLine = ''; // chunked: the size line being read, or '\n' while skipping a chunk's CRLF
    let bytes = 0;
    let settled = false;
    let sent = 0; // upload blocks handed to the socket
    const started = performance.now();
    const watchdog =
      deadline === Infinity
        ? undefined
        : setTimeout(
            () => {
              const seconds = (performance.now() - started) / 1000;
              const moved = upload ? sent * upload.block.length : bytes;
              finish(
                new TransferError(
                  `gave up after ${seconds.toFixed(0)} s (--min-mibs): ` +
                    `${(moved / MiB).toFixed(0)} MiB ${upload ? 'sent' : 'received'}, ${(moved / MiB / seconds).toFixed(1)} MiB/s`,
                ),
              );
            },
            Math.max(0, deadline - performance.now()),
          );
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      socket.destroy();
      if (error) reject(error);
      else resolve({ status, location, bytes, text: text.slice(0, 300) });
    };
    /** Consumes body bytes in buf[from, to); true once the answer is complete. */
    const body = (buf: Buffer, from: number, to: number): boolean => {
      if (text.length < 300 && to > from) text += buf.toString('latin1', from, Math.min(to, from + 300));
      if (mode === 'close') {
        bytes += to - from;
        return false;
      }
      if (mode === 'length') {
        const n = Math.min(left, to - from);
        bytes += n;
        left -= n;
        return left === 0;
      }
      let i = from;
      while (i < to) {
        if (left > 0) {
          const n = Math.min(left, to - i);
          bytes += n;
          left -= n;
          i += n;
          if (left === 0) chunkLine = '\n';
          continue;
        }
        const c = buf[i++]!;
        if (chunkLine === '\n') {
          if (c === 10) chunkLine = '';
          continue;
        }
        if (c !== 10) {
          chunkLine += String.fromCharCode(c);
          continue;
        }
        const size = parseInt(chunkLine.trim(), 16);
        chunkLine = '';
        if (!Number.isFinite(size)) throw new TransferError(`bad chunk size line`);
        if (size === 0) return true; // trailers are not expected
        left = size;
      }
      return false;
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 80),
      noDelay: true,
      onread: {
        buffer: RECEIVE,
        callback(nread: number, buf: Uint8Array): boolean {
          const chunk = buf as Buffer;
          try {
            if (mode !== 'head') {
              if (body(chunk, 0, nread)) finish();
              return true;
            }
            head = Buffer.concat([head, chunk.subarray(0, nread)]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) {
              if (head.length > 65536) finish(new TransferError('answer headers over 64 KiB'));
              return true;
            }
            const lines = head.toString('latin1', 0, end).split('\r\n');
            status = Number(/^HTTP\/1\.\d (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
            let length: number | undefined;
            let chunked = false;
            for (const line of lines.slice(1)) {
              const colon = line.indexOf(':');
              const name = line.slice(0, colon).trim().toLowerCase();
              const value = line.slice(colon + 1).trim();
              if (name === 'content-length') length = Number(value);
              else if (name === 'transfer-encoding') chunked = /chunked/i.test(value);
              else if (name === 'location') location = value;
            }
            const rest = head.subarray(end + 4);
            if (method === 'HEAD' || status === 204 || status === 304) {
              finish();
              return true;
            }
            if (chunked) mode = 'chunked';
            else if (length !== undefined) {
              mode = 'length';
              left = length;
            } else mode = 'close';
            if (mode === 'length' && left === 0) {
              finish();
              return true;
            }
            if (body(rest, 0, rest.length)) finish();
          } catch (error) {
            finish(error as Error);
          }
          return true;
        },
      },
    });
    socket.on('error', (error) => finish(error));
    socket.on('end', () => (mode === 'close' ? finish() : finish(new TransferError(`connection closed mid-answer (status ${status}, ${bytes} body bytes)`))));
    socket.on('connect', () => {
      const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
      if (upload) lines.push('Transfer-Encoding: chunked');
      socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      if (!upload) return;
      const frame = Buffer.from(`${upload.block.length.toString(16)}\r\n`, 'latin1');
      const crlf = Buffer.from('\r\n', 'latin1');
      const pump = () => {
        while (sent < upload.count) {
          sent++;
          socket.cork();
          socket.write(frame);
          socket.write(upload.block);
          const more = socket.write(crlf);
          socket.uncork();
          if (!more) return void socket.once('drain', pump);
        }
        socket.write('0\r\n\r\n', 'latin1');
      };
      pump();
    });
  });
}

export class TransferError extends Error {}

/** The path and query of a Location, applied to `base` (nginx's `Host $host` drops the port from absolute ones). */
function follow(base: string, location: string | undefined, step: string): URL {
  if (!location) throw new TransferError(`${step}: no Location header`);
  const target = new URL(location, base);
  return new URL(target.pathname + target.search, base);
}

/**
 * POST → one chunked PATCH of the whole blob → PUT ?digest=; returns seconds from POST to the final
 * 201. Gives up (TransferError) after `limitSeconds`.
 */
export async function pushBlob(base: string, repo: string, block: Buffer, count: number, digest: string, limitSeconds = Infinity): Promise<number> {
  const started = performance.now();
  const deadline = started + limitSeconds * 1000;
  const post = await exchange(new URL(`/v2/${repo}/blobs/uploads/`, base), 'POST', { 'content-length': '0' }, undefined, deadline);
  if (post.status !== 202) throw new TransferError(`upload POST: HTTP ${post.status} ${post.text}`);
  const patch = await exchange(follow(base, post.location, 'upload POST'), 'PATCH', { 'content-type': 'application/octet-stream' }, { block, count }, deadline);
  if (patch.status !== 202) throw new TransferError(`upload PATCH: HTTP ${patch.status} ${patch.text}`);
  const put = follow(base, patch.location, 'upload PATCH');
  put.searchParams.set('digest', digest);
  const done = await exchange(put, 'PUT', { 'content-length': '0' }, undefined, deadline);
  if (done.status !== 201) throw new TransferError(`upload PUT: HTTP ${done.status} ${done.text}`);
  return (performance.now() - started) / 1000;
}

/** GET of a blob, counting bytes; returns seconds from request to the last byte. */
export async function pullBlob(base: string, repo: string, digest: string, size: number, limitSeconds = Infinity): Promise<number> {
  const started = performance.now();
  const res = await exchange(new URL(`/v2/${repo}/blobs/${digest}`, base), 'GET', {}, undefined, started + limitSeconds * 1000);
  if (res.status !== 200) throw new TransferError(`blob GET: HTTP ${res.status} ${res.text}`);
  if (res.bytes !== size) throw new TransferError(`blob GET: ${res.bytes} bytes instead of ${size}`);
  return (performance.now() - started) / 1000;
}

/** GET and HEAD of a manifest through a target: status, media type, digest and length as the origin sent them. */
/**
 * `errors`: what a registry client would trip over (status, media type, digest, body, a wrong or — on
 * HEAD — missing length). `notes`: a GET answered without Content-Length (chunked): valid HTTP, worth
 * knowing.
 */
export async function checkManifest(
  base: string,
  path: string,
  host: string,
  expected: { type: string; digest: string; length: number },
): Promise<{ errors: string[]; notes: string[] }> {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const method of ['GET', 'HEAD']) {
    const seen = await new Promise<{ status: number; headers: IncomingMessage['headers']; bytes: number }>((resolve, reject) => {
      const req = request(new URL(path, base), { method, agent, headers: { host, accept: expected.type } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    const bad = (what: string) => problems.push(`manifest ${method}: ${what}`);
    if (seen.status !== 200) bad(`HTTP ${seen.status}`);
    if (seen.headers['content-type'] !== expected.type) bad(`content-type ${seen.headers['content-type']}`);
    if (seen.headers['docker-content-digest'] !== expected.digest) bad(`docker-content-digest ${seen.headers['docker-content-digest']}`);
    const length = seen.headers['content-length'];
    if (length === undefined && method === 'GET')
      notes.push(`manifest GET answered without Content-Length (${seen.headers['transfer-encoding'] ?? 'no transfer-encoding'})`);
    else if (Number(length) !== expected.length) bad(`content-length ${length}`);
    if (seen.bytes !== (method === 'GET' ? expected.length : 0)) bad(`${seen.bytes} body bytes`);
  }
  return { errors: problems, notes };
}

// ---------------------------------------------------------------- wrk

export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  errors: number;
  errorText: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function parseLatency(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : NaN;
}

export function parseWrk(text: string): WrkResult {
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const parts = [];
  if (non2xx) parts.push(`${non2xx} non-2xx/3xx`);
  if (socket && socketErrors) parts.push(`socket errors ${socket[0].replace('Socket errors: ', '')}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p50ms: parseLatency(text, '50'),
    p99ms: parseLatency(text, '99'),
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
    errors: non2xx + socketErrors,
    errorText: parts.join(', '),
  };
}

/**
 * GET runs with wrk; HEAD with bench/headload.c (`headload` below), because wrk 4.1 waits for a
 * HEAD answer's Content-Length bytes and times out on every request. Both print wrk's format.
 */
export function runWrk(opts: {
  url: string;
  host: string;
  accept: string;
  seconds: number;
  connections: number;
  threads: number;
  headload?: string;
}): Promise<WrkResult & { raw: string }> {
  const headers = ['-H', `Host: ${opts.host}`, '-H', `Accept: ${opts.accept}`];
  const [command, args] = opts.headload
    ? [opts.headload, [`-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}`, '-m', 'HEAD', ...headers, opts.url]]
    : ['wrk', [`-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', ...headers, opts.url]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${command} exited ${code}: ${out.trim()}`));
      const result = parseWrk(out);
      if (!Number.isFinite(result.rps)) return reject(new Error(`cannot read ${command} output: ${out.trim()}`));
      resolve({ ...result, raw: out });
    });
  });
}

/** Where the static origin serves the bench's manifest (bench/procs.ts startStaticOrigin), under a router or nginx in front of it. */
export const MANIFEST_PATH = '/v2/bench/static/manifests/latest';

/**
 * The small-request load of the bench's tools: wrk GET (or, with `headload`, HEAD) of the manifest
 * through the proxy at `base` (`http://host:port`), Host `static.bench`, for `seconds`; 32
 * connections on 2 threads unless said otherwise.
 */
export const manifestLoad = (base: string, seconds: number, headload?: string, { connections = 32, threads = 2 } = {}) =>
  runWrk({ url: base + MANIFEST_PATH, host: 'static.bench', accept: MANIFEST_TYPE, seconds, connections, threads, headload });

/** Compiles bench/headload.c into `dir` (needs a C compiler: gcc or clang as `cc`). */
export function buildHeadload(source: string, dir: string): string {
  const out = join(dir, 'headload');
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-pthread', '-o', out, source], { stdio: ['ignore', 'pipe', 'pipe'] });
  return out;
}
