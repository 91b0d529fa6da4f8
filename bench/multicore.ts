/**
 * The multi-core row (issue 21): the router with `"workers": "auto"` against nginx with
 * `worker_processes auto` (the tuned method-split recipe, bench/procs.ts), on loopback:
 * - 8 parallel GETs of a 256 MiB blob from a real docker-registry, each from its own loopback
 *   address: aggregate MiB/s (all bytes over the wall time of the eight);
 * - small GETs of a manifest at 64 connections (wrk -t2 -c64), req/s, with workers and with the
 *   same runtime as one process.
 * Prints one table: the figures, blob and small-GET ratios against nginx (auto), and small GET
 * req/s with workers over the same runtime's single process.
 *
 *   npx tsx bench/multicore.ts [--runtimes node,bun,deno] [--duration 10] [--blob-mib 256] [--parallel 8]
 *
 * `multicoreRows` runs the row against origins and an nginx someone already started (bench/bench.ts
 * can call it with its own); `multicoreTable` prints it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startRegistry } from '../test/support/registry.ts';
import { freePort } from '../test/support/ports.ts';
import { MiB, patternBlock, pushBlob, repeatedDigest, runWrk, type WrkResult } from './load.ts';
import { BUN, DENO, launch, MANIFEST, MANIFEST_TYPE, ROOT, startMethodSplitNginx, startStaticOrigin, waitFor, type Nginx, type Proc } from './procs.ts';

/** The runtimes the row measures (bun-node serves through the same Bun.serve as bun). */
export const MULTICORE_RUNTIMES = ['node', 'bun', 'deno'] as const;
export type MulticoreRuntime = (typeof MULTICORE_RUNTIMES)[number];

const COMMANDS: Record<MulticoreRuntime, (config: string) => string[]> = {
  node: (c) => [process.execPath, 'dist/node.mjs', '--config', c],
  bun: (c) => [BUN, 'run', 'src/bun.ts', '--config', c],
  deno: (c) => [DENO, 'run', '--allow-net', '--allow-read', '--allow-env', '--allow-run', 'src/deno.ts', '--config', c],
};

export interface MulticoreOptions {
  origins: { registry: string; static: string };
  /** nginx with worker_processes auto in front of the same origins. */
  nginx: Nginx;
  /** A blob of `blobMiB` MiB the registry holds under bench/blob. */
  blobDigest: string;
  blobMiB: number;
  parallel: number;
  duration: number;
  connections: number;
  threads: number;
  runtimes: readonly MulticoreRuntime[];
  dir: string;
  log?: (line: string) => void;
}

export interface MulticoreRow {
  name: string;
  /** Aggregate MiB/s of the parallel blob GETs (undefined: not measured, e.g. the single process). */
  blobMiBs?: number;
  small?: WrkResult;
  failed?: string;
}

export interface MulticoreResult {
  workers: number;
  nginx: MulticoreRow;
  /** Per runtime: with `workers: auto`, and as one process. */
  routers: Array<{ runtime: MulticoreRuntime; auto: MulticoreRow; single: MulticoreRow }>;
}

const MANIFEST_PATH = '/v2/bench/static/manifests/latest';

/**
 * GET of a blob on a raw socket (`Connection: close`) from `localAddress`, counting the bytes after
 * the head; rejects unless the answer is a 200 with `size` body bytes. Each of the parallel GETs
 * comes from its own loopback address (127.0.0.2, .3, …), as 8 clients would: on Node the primary
 * hands connections to workers by client address, and one address would reach one worker.
 */
function blobFrom(base: string, path: string, size: number, localAddress: string): Promise<void> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
    let head = '';
    let body = -1;
    // Chunked answers (Bun.serve streams without a length): the body bytes between the size lines.
    let chunked = false;
    let left = 0;
    let line = '';
    const count = (data: Buffer) => {
      if (!chunked) {
        body += data.length;
        return;
      }
      let at = 0;
      while (at < data.length) {
        if (left > 0) {
          const take = Math.min(left, data.length - at);
          body += take;
          left -= take;
          at += take;
          continue;
        }
        const byte = data[at++]!;
        if (byte !== 0x0a) {
          line += String.fromCharCode(byte);
          continue;
        }
        const size = line.trim();
        line = '';
        // The CRLF after a chunk's data leaves an empty line; the rest are size lines.
        if (size) left = Number.parseInt(size, 16) || 0;
      }
    };
    socket.on('connect', () => socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      if (body >= 0) return count(chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.1 200 /.test(head)) {
        socket.destroy();
        reject(new Error(`blob GET from ${localAddress}: ${head.slice(0, head.indexOf('\r\n'))}`));
        return;
      }
      chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head.slice(0, end));
      body = 0;
      count(Buffer.from(head.slice(end + 4), 'latin1'));
    });
    socket.on('error', reject);
    socket.on('close', () => (body === size ? resolve() : reject(new Error(`blob GET from ${localAddress}: ${body} bytes instead of ${size}`))));
  });
}

async function parallelBlobs(base: string, o: MulticoreOptions): Promise<number> {
  const started = performance.now();
  const path = `/v2/bench/blob/blobs/${o.blobDigest}`;
  await Promise.all(Array.from({ length: o.parallel }, (_, i) => blobFrom(base, path, o.blobMiB * MiB, `127.0.0.${2 + i}`)));
  return (o.parallel * o.blobMiB) / ((performance.now() - started) / 1000);
}

const small = (base: string, o: MulticoreOptions) =>
  runWrk({ url: `${base}${MANIFEST_PATH}`, host: 'static.bench', accept: MANIFEST_TYPE, seconds: o.duration, connections: o.connections, threads: o.threads });

async function startRouter(runtime: MulticoreRuntime, workers: number | 'auto', o: MulticoreOptions): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  mkdirSync(o.dir, { recursive: true });
  const config = join(o.dir, `multicore-${runtime}-${workers}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      accessLog: false,
      workers,
      sites: [
        { name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${o.origins.static}/` },
        { name: 'registry', hosts: ['127.0.0.1'], preset: 'docker', upstream: `${o.origins.registry}/` },
      ],
    }),
  );
  const [command, ...args] = COMMANDS[runtime](config);
  const proc = launch(command!, args, { cwd: ROOT, env: { ...process.env, PORT: '', NODE_ENV: 'production' } });
  await waitFor(proc, () => /listening on/.test(proc.stderr()), `${runtime} router (workers ${workers})`, 45_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** A row's measurements; a failure is recorded in the row, not thrown. */
async function measure(name: string, run: (row: MulticoreRow) => Promise<void>): Promise<MulticoreRow> {
  const row: MulticoreRow = { name };
  try {
    await run(row);
  } catch (error) {
    row.failed = (error as Error).message;
  }
  return row;
}

/** nginx (auto), then per runtime the router with `workers: auto` and as one process. */
export async function multicoreRows(o: MulticoreOptions): Promise<MulticoreResult> {
  const log = o.log ?? (() => {});
  const workers = os.availableParallelism();
  log(`multi-core: nginx (worker_processes auto = ${workers})`);
  const nginx = await measure('nginx (worker_processes auto)', async (row) => {
    row.blobMiBs = await parallelBlobs(o.nginx.url, o);
    row.small = await small(o.nginx.url, o);
  });
  const routers: MulticoreResult['routers'] = [];
  for (const runtime of o.runtimes) {
    const one = async (count: number | 'auto', blobs: boolean): Promise<MulticoreRow> =>
      measure(`${runtime}, workers: ${count === 'auto' ? `auto (${workers})` : count}`, async (row) => {
        log(`multi-core: ${row.name}`);
        const router = await startRouter(runtime, count, o);
        try {
          if (blobs) row.blobMiBs = await parallelBlobs(router.url, o);
          // Warm-up (JIT, upstream connections), then the measured run.
          await small(router.url, { ...o, duration: Math.min(2, o.duration) });
          row.small = await small(router.url, o);
          if (row.small.errors) row.failed = `wrk: ${row.small.errorText}`;
        } finally {
          await router.proc.stop();
        }
      });
    routers.push({ runtime, auto: await one('auto', true), single: await one(1, false) });
  }
  return { workers, nginx, routers };
}

const fixed = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || !b ? '–' : `${(a / b).toFixed(2)}×`);

/** The row as a markdown table, with the issue's targets (blob ≥ 0.8× nginx; req/s with workers ≥ 1.6× one process). */
export function multicoreTable(result: MulticoreResult, o: Pick<MulticoreOptions, 'parallel' | 'blobMiB' | 'connections'>): string {
  const lines = [
    `**Multi-core** (${result.workers} CPUs: workers auto = ${result.workers}, nginx worker_processes auto): ` +
      `${o.parallel} parallel ${o.blobMiB} MiB blob GETs, small GETs at ${o.connections} connections`,
    '',
    '| target | blob GET MiB/s (aggregate) | × nginx | small GET req/s | × nginx | p99 ms | req/s × one process |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| ${result.nginx.name} | ${fixed(result.nginx.blobMiBs)} | 1.00× | ${fixed(result.nginx.small?.rps)} | 1.00× | ` +
      `${fixed(result.nginx.small?.p99ms, 2)} | |`,
  ];
  for (const { auto, single } of result.routers) {
    for (const row of [auto, single]) {
      if (row.failed && !row.small) {
        lines.push(`| ${row.name} | failed: ${row.failed.replace(/\|/g, '/').slice(0, 120)} | | | | | |`);
        continue;
      }
      lines.push(
        `| ${row.name} | ${fixed(row.blobMiBs)} | ${row.blobMiBs === undefined ? '' : ratio(row.blobMiBs, result.nginx.blobMiBs)} | ` +
          `${fixed(row.small?.rps)} | ${ratio(row.small?.rps, result.nginx.small?.rps)} | ${fixed(row.small?.p99ms, 2)} | ` +
          `${row === auto ? ratio(auto.small?.rps, single.small?.rps) : ''} |`,
      );
    }
  }
  if (result.routers.some((r) => r.runtime === 'node')) {
    lines.push(
      '',
      'node keeps each client address on one worker (the primary hands connections over by address): wrk, one address, ' +
        'reaches one worker, so its small-GET figure with workers is one worker behind the primary (the blob GETs come from 8 addresses).',
    );
  }
  return lines.join('\n');
}

function flagsOf(argv: string[]) {
  const get = (name: string) => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const runtimes = (get('runtimes')?.split(',') ?? [...MULTICORE_RUNTIMES]) as MulticoreRuntime[];
  for (const runtime of runtimes)
    if (!MULTICORE_RUNTIMES.includes(runtime)) throw new Error(`--runtimes: ${runtime} is none of ${MULTICORE_RUNTIMES.join(', ')}`);
  return {
    runtimes,
    duration: Number(get('duration') ?? 10),
    blobMiB: Number(get('blob-mib') ?? 256),
    parallel: Number(get('parallel') ?? 8),
  };
}

/** Standalone: its own registry (holding the blob), static origin and nginx; prints the table. Needs dist/node.mjs (npm run build). */
async function main(): Promise<void> {
  const flags = flagsOf(process.argv.slice(2));
  const dir = mkdtempSync(join(os.tmpdir(), 'rr-multicore-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const procs: Proc[] = [];
  const registry = await startRegistry({ name: 'multicore', logLevel: 'error' });
  try {
    const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
    const staticOrigin = await startStaticOrigin(join(dir, 'static'), digest);
    procs.push(staticOrigin.proc);
    const origins = { registry: registry.url, static: staticOrigin.url };
    const nginx = await startMethodSplitNginx(join(dir, 'nginx'), origins, 'tuned');
    procs.push(nginx.proc);
    const block = await patternBlock();
    const blobDigest = repeatedDigest(block, flags.blobMiB);
    log(`seeding the registry: ${flags.blobMiB} MiB blob`);
    await pushBlob(registry.url, 'bench/blob', block, flags.blobMiB, blobDigest);
    const options: MulticoreOptions = { origins, nginx, blobDigest, connections: 64, threads: 2, dir, log, ...flags };
    const result = await multicoreRows(options);
    process.stdout.write(`${multicoreTable(result, options)}\n`);
  } finally {
    for (const proc of procs.reverse()) await proc.stop().catch(() => {});
    await registry.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
