/**
 * The floor of each runtime: what a bare proxy on it (no routing, no passes, no logging) costs,
 * beside tuned nginx and the router on the same runtime, in one run, behind the same origins.
 * Issue 20's targets are multiples of tuned nginx; the floor's multiple says how much of each
 * target the runtime itself takes before the router does anything.
 *
 *   npm run build && npx tsx bench/floor.ts [--runtimes node,bun,deno] [--duration 5] [--rounds 3]
 *                                           [--warmup 2] [--blob-mib 1024] [--no-blob] [--out bench/results/floor.md]
 *
 * Rows: nginx (tuned) — the anchor — and nginx (original); per runtime a bare proxy (the floor)
 * and the router:
 * - node: bench/floor-proxy.mjs (node:http + undici), bench/floor-node-raw.mjs (node:http + its own
 *   HTTP/1.1 over `net.connect({ onread })` into pooled 1 MiB buffers: Node's cheapest upstream
 *   reads) and the router from dist/node.mjs;
 * - bun: bench/floor-bun.mjs (Bun.serve + fetch, the origin's Response handed back untouched:
 *   Bun's native pipe), bench/floor-proxy.mjs on Bun (its node:http), and the router as
 *   `bun run src/node.ts` and `bun run src/bun.ts`;
 * - deno: bench/floor-deno.mjs (Deno.serve + fetch, Response untouched) and src/deno.ts.
 * Per runtime also a "Hono floor": the bare proxy again, as the router's fixed shape (a Hono app on
 * the Fetch API, `app.all('*', …)`, served as the router is served): bench/floor-hono-node.mjs
 * (@hono/node-server + undici), bench/floor-hono-node-raw.mjs (@hono/node-server + the net onread
 * client), bench/floor-hono-bun.mjs (Bun.serve + fetch) and bench/floor-hono-deno.mjs (Deno.serve
 * + fetch), the last two once with the Response untouched and once (`copy`) with a small body read
 * whole into a new Response with a copy of the headers (what the router must do to edit headers).
 * Each floor runs twice, one process per origin (a floor has no routing): one in front of the
 * manifest origin (small requests), one in front of the docker-registry (the blob).
 *
 * Per round, rows take turns so that other load on the machine hits all alike: one --blob-mib MiB
 * blob GET each, right after one through nginx (tuned) as its pair (raw-socket client of load.ts:
 * MiB/s, the proxy's CPU seconds per GiB), then a wrk GET and a headload HEAD of a manifest each
 * (32 connections, 2 threads, --duration s: CPU µs per request of the proxy's process tree, and
 * req/s). Ratios against nginx (tuned) are taken within each round (blobs: against the paired GET),
 * then the median over --rounds is printed (absolute figures: medians too; blobs also the best).
 * --no-blob skips the registry and the blob column; --out FILE also writes the markdown there.
 * Exit status 1 when a row failed to start or answered with errors.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { startRegistry, type Registry } from '../test/support/registry.ts';
import { freePort } from '../test/support/ports.ts';
import { listFlag, numberFlag, readFlags } from './flags.ts';
import { buildHeadload, checkManifest, MANIFEST_PATH, manifestLoad, MiB, patternBlock, pullBlob, pushBlob, repeatedDigest } from './load.ts';
import {
  BUN,
  cpuSeconds,
  DENO,
  lastLines,
  launch,
  MANIFEST,
  MANIFEST_TYPE,
  NGINX,
  otherLoad,
  processTree,
  ROOT,
  startMethodSplitNginx,
  startRouter,
  startStaticOrigin,
  waitFor,
  type Proc,
  type Runtime,
} from './procs.ts';

const GROUPS = ['node', 'bun', 'deno'] as const;
type Group = (typeof GROUPS)[number];

function parseFlags(argv: string[]) {
  const string = { type: 'string' } as const;
  const values = readFlags(
    argv,
    { runtimes: string, duration: string, rounds: string, warmup: string, 'blob-mib': string, 'no-blob': { type: 'boolean' }, out: string },
    import.meta.url,
  );
  return {
    runtimes: listFlag('runtimes', values.runtimes, GROUPS),
    duration: numberFlag('duration', values.duration, 5, 1),
    rounds: numberFlag('rounds', values.rounds, 3, 1),
    warmup: numberFlag('warmup', values.warmup, 2, 0),
    blobMib: numberFlag('blob-mib', values['blob-mib'], 1024, 1),
    blob: values['no-blob'] !== true,
    out: values.out === undefined ? undefined : resolve(values.out),
  };
}

/** One bare proxy (bench/floor-*.mjs) on one runtime. */
interface FloorSpec {
  label: string;
  argv: (port: number, origin: string) => string[];
}

const FLOORS: Record<Group, FloorSpec[]> = {
  node: [
    { label: 'floor: node:http + undici', argv: (p, o) => [process.execPath, join(ROOT, 'bench/floor-proxy.mjs'), String(p), o] },
    { label: 'floor: node:http + net onread', argv: (p, o) => [process.execPath, join(ROOT, 'bench/floor-node-raw.mjs'), String(p), o] },
  ],
  bun: [
    { label: 'floor: Bun.serve + fetch (native pipe)', argv: (p, o) => [BUN, join(ROOT, 'bench/floor-bun.mjs'), String(p), o] },
    { label: 'floor: node:http + undici on Bun', argv: (p, o) => [BUN, join(ROOT, 'bench/floor-proxy.mjs'), String(p), o] },
  ],
  deno: [{ label: 'floor: Deno.serve + fetch', argv: (p, o) => [DENO, 'run', '--allow-net', join(ROOT, 'bench/floor-deno.mjs'), String(p), o] }],
};

/** The same bare proxies in the router's fixed shape: a Hono app on the Fetch API, served as the router is. */
const HONO_FLOORS: Record<Group, FloorSpec[]> = {
  node: [
    { label: 'hono floor: node-server + undici', argv: (p, o) => [process.execPath, join(ROOT, 'bench/floor-hono-node.mjs'), String(p), o] },
    { label: 'hono floor: node-server + net onread', argv: (p, o) => [process.execPath, join(ROOT, 'bench/floor-hono-node-raw.mjs'), String(p), o] },
  ],
  bun: [
    { label: 'hono floor: Bun.serve + fetch (untouched)', argv: (p, o) => [BUN, join(ROOT, 'bench/floor-hono-bun.mjs'), String(p), o] },
    { label: 'hono floor: Bun.serve + fetch (new Response)', argv: (p, o) => [BUN, join(ROOT, 'bench/floor-hono-bun.mjs'), String(p), o, 'copy'] },
  ],
  deno: [
    {
      label: 'hono floor: Deno.serve + fetch (untouched)',
      argv: (p, o) => [DENO, 'run', '--allow-net', '--allow-read', '--allow-env', join(ROOT, 'bench/floor-hono-deno.mjs'), String(p), o],
    },
    {
      label: 'hono floor: Deno.serve + fetch (new Response)',
      argv: (p, o) => [DENO, 'run', '--allow-net', '--allow-read', '--allow-env', join(ROOT, 'bench/floor-hono-deno.mjs'), String(p), o, 'copy'],
    },
  ],
};

const ROUTERS: Record<Group, [Runtime, string][]> = {
  node: [['node', 'router: dist/node.mjs']],
  bun: [
    ['bun-node', 'router: bun run src/node.ts'],
    ['bun', 'router: bun run src/bun.ts'],
  ],
  deno: [['deno', 'router: src/deno.ts']],
};

/** Where a row sends its load and whose CPU counts. */
interface Endpoint {
  url: string;
  pid: number;
  proc?: Proc;
}

interface Row {
  group: Group | 'nginx';
  name: string;
  small?: Endpoint;
  blob?: Endpoint;
  failed?: string;
  errors: string[];
  /** Per round (NaN when that measurement failed). */
  getUs: number[];
  headUs: number[];
  getRps: number[];
  headRps: number[];
  blobMiBs: number[];
  /** The proxy's CPU seconds per GiB of blob GET. */
  blobCpu: number[];
  /** Share of one core the proxy used during the blob GET. */
  blobShare: number[];
  /** Share of one core the origin docker-registry used during the blob GET. */
  originShare: number[];
  /** MiB/s and CPU s/GiB of the tuned nginx blob GET run just before each of this row's (its anchor). */
  pairMiBs: number[];
  pairCpu: number[];
  /** Share of all cores used by processes outside the bench while this row ran. */
  others: number[];
}

const log = (line: string) => console.error(`[floor ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function startFloor(spec: FloorSpec, origin: string): Promise<Endpoint> {
  const port = await freePort();
  const [command, ...args] = spec.argv(port, origin);
  const proc = launch(command!, args);
  await waitFor(proc, () => /listening on/.test(proc.stderr()), spec.label, 30_000);
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, proc };
}

/** The pid among this process's descendants whose command line mentions `needle` (the registry's config file). */
function pidWith(needle: string): number | undefined {
  for (const pid of processTree(process.pid).slice(1)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) return pid;
    } catch {
      /* exited meanwhile */
    }
  }
  return undefined;
}

const median = (values: number[]): number => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!finite.length) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
};
/** Median over rounds of row/anchor, each round against the anchor's figure of the same round. */
const medianRatio = (row: number[], anchor: number[]) => median(row.map((v, i) => v / anchor[i]!));
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const times = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : '–');

function version(cmd: string, args: string[]): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (run.error) return 'unavailable';
  return `${run.stdout ?? ''}\n${run.stderr ?? ''}`.trim().split('\n')[0]!.trim();
}

const loadavg = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

/** Issue 20's CPU-per-small-request targets, as multiples of tuned nginx, per router row. */
const CPU_TARGET: Record<string, number> = { node: 6, 'bun-node': 3.5, bun: 3.5, deno: 6 };
/** Issue 20's blob GET targets, as a share of tuned nginx's MiB/s, per router row. */
const BLOB_TARGET: Record<string, number> = { node: 0.8, 'bun-node': 0.9, bun: 0.9, deno: 0.8 };

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const started = Date.now();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(os.tmpdir(), 'rr-floor-'));
  const stops: (() => Promise<void>)[] = [];
  let registry: Registry | undefined;
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await registry?.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const rows: Row[] = [];
  const newRow = (group: Row['group'], name: string): Row => {
    const row: Row = {
      group,
      name,
      errors: [],
      getUs: [],
      headUs: [],
      getRps: [],
      headRps: [],
      blobMiBs: [],
      blobCpu: [],
      blobShare: [],
      originShare: [],
      pairMiBs: [],
      pairCpu: [],
      others: [],
    };
    rows.push(row);
    return row;
  };
  const routerRuntime = new Map<Row, Runtime>();
  let registryPid: number | undefined;
  let blobDigest = '';
  try {
    const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
    const manifestDigest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
    const staticOrigin = await startStaticOrigin(join(dir, 'static'), manifestDigest);
    stops.push(() => staticOrigin.proc.stop());
    let registryUrl = 'http://127.0.0.1:9';
    const block = await patternBlock();
    const warmDigest = repeatedDigest(block, 64);
    if (flags.blob) {
      log(`starting docker-registry, seeding a ${flags.blobMib} MiB blob and a 64 MiB warm-up blob`);
      registry = await startRegistry({ name: 'floor', logLevel: 'error' });
      registryUrl = registry.url;
      blobDigest = repeatedDigest(block, flags.blobMib);
      await pushBlob(registryUrl, 'bench/blob', block, flags.blobMib, blobDigest);
      if (flags.blobMib !== 64) await pushBlob(registryUrl, 'bench/blob', block, 64, warmDigest);
      registryPid = pidWith(registry.configFile);
    }
    const origins = { registry: registryUrl, static: staticOrigin.url };

    for (const recipe of ['tuned', 'original'] as const) {
      const row = newRow('nginx', `nginx (${recipe})`);
      try {
        const nginx = await startMethodSplitNginx(join(dir, `nginx-${recipe}`), origins, recipe);
        stops.push(() => nginx.proc.stop());
        row.small = row.blob = { url: nginx.url, pid: nginx.proc.pid, proc: nginx.proc };
      } catch (error) {
        row.failed = (error as Error).message;
      }
    }
    for (const group of flags.runtimes) {
      for (const spec of [...FLOORS[group], ...HONO_FLOORS[group]]) {
        const row = newRow(group, spec.label);
        try {
          row.small = await startFloor(spec, staticOrigin.url);
          stops.push(() => row.small!.proc!.stop());
          if (flags.blob) {
            row.blob = await startFloor(spec, registryUrl);
            stops.push(() => row.blob!.proc!.stop());
          }
        } catch (error) {
          row.failed = (error as Error).message;
        }
      }
      for (const [runtime, label] of ROUTERS[group]) {
        const row = newRow(group, label);
        routerRuntime.set(row, runtime);
        try {
          const router = await startRouter(runtime, join(dir, 'routers'), origins, { accessLog: false });
          stops.push(() => router.proc.stop('SIGTERM'));
          row.small = row.blob = { url: router.url, pid: router.proc.pid, proc: router.proc };
        } catch (error) {
          row.failed = (error as Error).message;
        }
      }
    }
    for (const row of rows) if (row.failed) log(`${row.name}: FAILED to start: ${lastLines(row.failed)}`);

    const manifestPath = MANIFEST_PATH;
    const live = () => rows.filter((r) => !r.failed);
    const alive = (row: Row) => {
      for (const end of [row.small, row.blob]) {
        if (end?.proc?.exited()) {
          row.failed = `exited (${end.proc.child.exitCode ?? end.proc.child.signalCode}): ${lastLines(end.proc.stderr())}`;
          log(`${row.name}: ${row.failed}`);
        }
      }
      return !row.failed;
    };
    const load = (url: string, seconds: number, head: boolean) => manifestLoad(url, seconds, head ? headload : undefined);

    // What each row answers must be what the origin sent (status, type, digest, length).
    for (const row of live()) {
      const { errors } = await checkManifest(row.small!.url, manifestPath, 'static.bench', {
        type: MANIFEST_TYPE,
        digest: manifestDigest,
        length: MANIFEST.length,
      });
      if (!errors.length) continue;
      row.errors.push(...errors);
      log(`${row.name}: ${errors.join('; ')}`);
    }
    log(`warm-up: ${flags.warmup} s GET each${flags.blob ? ', one 64 MiB blob GET each' : ''}`);
    for (const row of live()) {
      try {
        if (flags.warmup > 0) await load(row.small!.url, flags.warmup, false);
        if (flags.blob) await pullBlob(row.blob!.url, 'bench/blob', warmDigest, 64 * MiB, 60);
      } catch (error) {
        row.errors.push(`warm-up: ${(error as Error).message}`);
      }
      alive(row);
    }

    for (let round = 0; round < flags.rounds; round++) {
      log(`round ${round + 1} of ${flags.rounds}`);
      const meters = new Map(live().map((r) => [r, 0]));
      const metered = async (row: Row, run: () => Promise<void>) => {
        const meter = otherLoad();
        const t0 = performance.now();
        try {
          await run();
        } catch (error) {
          row.errors.push(`round ${round + 1}: ${(error as Error).message}`);
          log(`${row.name}: ${(error as Error).message}`);
        }
        // Time-weighted over the row's runs in this round.
        const seconds = (performance.now() - t0) / 1000;
        meters.set(row, (meters.get(row) ?? 0) + meter.stop() * seconds);
        return seconds;
      };
      const spent = new Map<Row, number>();
      const add = (row: Row, s: number) => spent.set(row, (spent.get(row) ?? 0) + s);
      if (flags.blob) {
        /** One blob GET through `row`, its figures appended to the row's lists. */
        const blobOnce = async (row: Row) => {
          let mibs = Number.NaN;
          let perGiB = Number.NaN;
          let share = Number.NaN;
          let origin = Number.NaN;
          add(
            row,
            await metered(row, async () => {
              const before = { proxy: cpuSeconds(row.blob!.pid), origin: registryPid ? cpuSeconds(registryPid) : Number.NaN };
              const seconds = await pullBlob(row.blob!.url, 'bench/blob', blobDigest, flags.blobMib * MiB, Math.max(60, flags.blobMib / 20));
              const proxy = cpuSeconds(row.blob!.pid) - before.proxy;
              mibs = flags.blobMib / seconds;
              perGiB = proxy / (flags.blobMib / 1024);
              share = proxy / seconds;
              origin = (registryPid ? cpuSeconds(registryPid) - before.origin : Number.NaN) / seconds;
              log(`${row.name}: blob GET ${mibs.toFixed(0)} MiB/s, proxy ${perGiB.toFixed(2)} CPU s/GiB (${pct(share)} of a core), origin ${pct(origin)}`);
            }),
          );
          row.blobMiBs.push(mibs);
          row.blobCpu.push(perGiB);
          row.blobShare.push(share);
          row.originShare.push(origin);
          return { mibs, perGiB };
        };
        // A blob GET moves with the load of the second it runs in: each row's is paired with a
        // tuned nginx GET just before it, and its ratios are taken against that one.
        const anchor = rows[0]!;
        for (const row of live()) {
          if (row === anchor || !alive(row)) continue;
          const paired = anchor.failed ? { mibs: Number.NaN, perGiB: Number.NaN } : await blobOnce(anchor);
          await blobOnce(row);
          row.pairMiBs.push(paired.mibs);
          row.pairCpu.push(paired.perGiB);
        }
      }
      for (const head of [false, true]) {
        for (const row of live()) {
          if (!alive(row)) continue;
          let us = Number.NaN;
          let rps = Number.NaN;
          add(
            row,
            await metered(row, async () => {
              const before = cpuSeconds(row.small!.pid);
              const r = await load(row.small!.url, flags.duration, head);
              if (r.errors) row.errors.push(`round ${round + 1} ${head ? 'HEAD' : 'GET'}: ${r.errorText}`);
              if (!r.requests) throw new Error(`${head ? 'HEAD' : 'GET'}: no request completed`);
              us = ((cpuSeconds(row.small!.pid) - before) * 1e6) / r.requests;
              rps = r.rps;
              log(`${row.name} ${head ? 'HEAD' : 'GET'}: ${rps.toFixed(0)} req/s, ${us.toFixed(1)} CPU µs/req${r.errors ? ` ERRORS ${r.errorText}` : ''}`);
            }),
          );
          (head ? row.headUs : row.getUs).push(us);
          (head ? row.headRps : row.getRps).push(rps);
        }
      }
      for (const [row, weighted] of meters) row.others.push(weighted / (spent.get(row) || 1));
    }
  } finally {
    await cleanup();
  }

  // ---------------------------------------------------------------- report
  const tuned = rows.find((r) => r.name === 'nginx (tuned)')!;
  const groupLabel = (row: Row) => (row.group === 'nginx' ? 'nginx' : row.group);
  const failedCells = (n: number) => Array<string>(n).fill('–');
  const smallHeader = [
    'runtime',
    'row',
    'GET CPU µs/req',
    'GET CPU × tuned',
    'HEAD CPU µs/req',
    'HEAD CPU × tuned',
    'GET req/s',
    'GET req/s × tuned',
    'HEAD req/s',
    'HEAD req/s × tuned',
    "others' CPU",
  ];
  const smallRows = rows.map((r) =>
    r.failed && !r.getUs.length
      ? [groupLabel(r), `${r.name} **FAILED**`, ...failedCells(smallHeader.length - 2)]
      : [
          groupLabel(r),
          r.errors.length ? `${r.name} (errors)` : r.name,
          fmt(median(r.getUs), 1),
          times(medianRatio(r.getUs, tuned.getUs)),
          fmt(median(r.headUs), 1),
          times(medianRatio(r.headUs, tuned.headUs)),
          fmt(median(r.getRps)),
          times(medianRatio(r.getRps, tuned.getRps)),
          fmt(median(r.headRps)),
          times(medianRatio(r.headRps, tuned.headRps)),
          pct(median(r.others)),
        ],
  );
  const blobHeader = [
    'runtime',
    'row',
    'blob GET MiB/s',
    '× tuned (paired)',
    'best MiB/s',
    'best × best tuned',
    'proxy CPU s/GiB',
    '× tuned (paired)',
    'proxy CPU % (of a core)',
    'origin CPU %',
  ];
  const blobRows = rows.map((r) =>
    r.failed && !r.blobMiBs.length
      ? [groupLabel(r), `${r.name} **FAILED**`, ...failedCells(blobHeader.length - 2)]
      : [
          groupLabel(r),
          r.name,
          fmt(median(r.blobMiBs)),
          r === tuned ? '1.00×' : times(medianRatio(r.blobMiBs, r.pairMiBs)),
          fmt(Math.max(...r.blobMiBs.filter(Number.isFinite))),
          times(Math.max(...r.blobMiBs.filter(Number.isFinite)) / Math.max(...tuned.blobMiBs.filter(Number.isFinite))),
          fmt(median(r.blobCpu), 2),
          r === tuned ? '1.00×' : times(medianRatio(r.blobCpu, r.pairCpu)),
          pct(median(r.blobShare)),
          pct(median(r.originShare)),
        ],
  );
  const table = (header: string[], body: string[][], left: number) =>
    [
      `| ${header.join(' | ')} |`,
      `| ${header.map((_, i) => (i < left ? '---' : '---:')).join(' | ')} |`,
      ...body.map((cells) => `| ${cells.join(' | ')} |`),
    ].join('\n');

  // Per router: its target, the best floor of its runtime and the router, all × tuned nginx.
  const budget: string[][] = [];
  for (const [row, runtime] of routerRuntime) {
    const floors = rows.filter((r) => r.group === row.group && r.name.startsWith('floor: '));
    const honoFloors = rows.filter((r) => r.group === row.group && r.name.startsWith('hono floor: '));
    /** The best of `among` (default: the runtime's bare proxies) on a measure (lowest figure, or highest with `higher`) and that figure. */
    const best = (get: (r: Row) => number, higher = false, among = floors): [Row | undefined, number] => {
      const scored = among.map((r) => [r, get(r)] as [Row, number]).filter(([, v]) => Number.isFinite(v));
      scored.sort((a, b) => (higher ? b[1] - a[1] : a[1] - b[1]));
      return scored[0] ?? [undefined, Number.NaN];
    };
    const named = ([floor, value]: [Row | undefined, number]) => `${times(value)}${floor ? ` (${floor.name.replace(/^(hono )?floor: /, '')})` : ''}`;
    const measures: [string, (r: Row) => number, number, string][] = [
      ['CPU per GET', (r) => medianRatio(r.getUs, tuned.getUs), CPU_TARGET[runtime]!, ''],
      ['CPU per HEAD', (r) => medianRatio(r.headUs, tuned.headUs), CPU_TARGET[runtime]!, ''],
    ];
    if (flags.blob) measures.push(['proxy CPU s/GiB of blob GET', (r) => medianRatio(r.blobCpu, r.pairCpu), 2, ' (aim)']);
    for (const [what, get, goal, aim] of measures) {
      const floor = best(get);
      const hono = best(get, false, honoFloors);
      const rt = get(row);
      budget.push([
        row.name,
        what,
        `≤ ${goal}×${aim}`,
        named(floor),
        named(hono),
        times(rt),
        times(goal - floor[1]),
        times(goal - hono[1]),
        rt <= goal ? 'met' : '**missed**',
      ]);
    }
    if (flags.blob) {
      const goal = BLOB_TARGET[runtime]!;
      const paired = (r: Row) => medianRatio(r.blobMiBs, r.pairMiBs);
      const top = (r: Row) => Math.max(...r.blobMiBs.filter(Number.isFinite)) / Math.max(...tuned.blobMiBs.filter(Number.isFinite));
      const [rt, rtTop] = [paired(row), top(row)];
      budget.push([
        row.name,
        'blob GET MiB/s (paired median; best of rounds)',
        `≥ ${goal}×`,
        `${named(best(paired, true))}; ${named(best(top, true))}`,
        `${named(best(paired, true, honoFloors))}; ${named(best(top, true, honoFloors))}`,
        `${times(rt)}; ${times(rtTop)}`,
        '–',
        '–',
        rt >= goal ? 'met' : rtTop >= goal ? 'met at best' : '**missed**',
      ]);
    }
  }
  const budgetHeader = [
    'router',
    'measure',
    'target × tuned',
    'floor × tuned',
    'Hono floor × tuned',
    'router × tuned',
    'target − floor',
    'target − Hono floor',
    'router',
  ];

  const command = `npx tsx bench/floor.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const md = [
    '# The floor of each runtime',
    '',
    `\`${command}\` — ${new Date(started).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min.`,
    '',
    `Machine: ${cpu}, ${os.availableParallelism?.() ?? os.cpus().length} cores, ${os.type()} ${os.release()}; node ${process.version}, ` +
      `bun ${version(BUN, ['--version'])}, deno ${version(DENO, ['--version']).replace(/^deno /, '')}; ` +
      `${version(NGINX, ['-v']).replace(/^nginx version: /, '')}. Load average (1/5/15 min) before ${loadBefore}, after ${loadavg()}.`,
    '',
    `Everything on 127.0.0.1. A "floor" is a bare proxy on that runtime in front of one origin: no routing, no header passes, ` +
      `no logging (bench/floor-proxy.mjs: node:http + undici, on Node and on Bun; bench/floor-bun.mjs: Bun.serve + fetch, ` +
      `the Response handed back untouched; bench/floor-deno.mjs: Deno.serve + fetch, likewise). A "hono floor" is the same ` +
      `bare proxy in the router's fixed shape, a Hono app on the Fetch API served as the router is (bench/floor-hono-*.mjs: ` +
      `@hono/node-server + undici or the net onread client; Bun.serve / Deno.serve + fetch, the Response untouched or, ` +
      `"new Response", a small body read whole into a new Response with a copy of the headers). Rows took turns for ` +
      `${flags.rounds} rounds; figures are medians over rounds, ratios the median of each round's ratio against nginx (tuned) ` +
      `in that round. Small requests: wrk -t2 -c32 -d${flags.duration}s GET and bench/headload.c HEAD of a ${MANIFEST.length}-byte ` +
      `manifest (static nginx origin); CPU µs/req is the proxy's process tree (nginx: master + workers) CPU time per request.` +
      (flags.blob
        ? ` Blob: one ${flags.blobMib} MiB GET per row and round from docker-registry by load.ts's raw-socket client, each ` +
          `right after one through nginx (tuned): "× tuned (paired)" is the median of row / that paired GET; "best": the fastest ` +
          `of the row's GETs against the fastest of tuned nginx's. Proxy CPU s/GiB is the ` +
          `proxy's CPU seconds during the transfer per GiB; origin CPU % is docker-registry's share of a core meanwhile.`
        : '') +
      ` "others' CPU": share of both cores used outside the bench while the row ran.`,
    '',
    '**Small requests**',
    '',
    table(smallHeader, smallRows, 2),
    '',
    ...(flags.blob ? ['**Blob GET**', '', table(blobHeader, blobRows.filter(Boolean), 2), ''] : []),
    "**Issue 20's targets against each runtime's floor** (the best of that runtime's bare proxies on each measure; " +
      '"target − floor": what the target leaves the router for everything it does, in multiples of tuned nginx; ' +
      '"Hono floor": the best of its bare proxies in the Hono/Fetch shape, so "target − Hono floor" is what is left once that shape is paid)',
    '',
    table(budgetHeader, budget, 3),
    '',
    ...(rows.some((r) => r.errors.length || r.failed)
      ? ['Errors:', '', ...rows.flatMap((r) => [...(r.failed ? [`- ${r.name}: ${r.failed}`] : []), ...r.errors.map((e) => `- ${r.name}: ${e}`)]), '']
      : []),
  ].join('\n');
  console.log(`\n${md}`);
  if (flags.out) {
    mkdirSync(dirname(flags.out), { recursive: true });
    writeFileSync(flags.out, md);
    log(`wrote ${relative(process.cwd(), flags.out) || flags.out}`);
  }
  return rows.some((r) => r.failed || r.errors.length) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
