/**
 * `npm run bench`: the router on every runtime against two nginx anchors (the original method-split
 * recipe, and the same split tuned: upstream keep-alive, 1 MiB answer buffers) and the origin
 * itself, side by side in one run, on loopback.
 *
 *   npm run bench -- [--blob-mib 1024] [--rss-gib 4] [--duration 10] [--warmup 2] [--min-mibs 20]
 *                    [--runtimes node,bun-node,bun,deno,workerd] [--out bench/results/latest.md] [--no-multicore] [--no-redis]
 *
 * Origins: a real docker-registry (blobs) and an nginx serving one manifest with registry headers
 * (small requests). Per target: peak RSS while streaming --rss-gib GiB up and down (summed over the
 * process tree, sampled every 100 ms), --blob-mib MiB blob GET and PUT throughput, then wrk GET and
 * HEAD of a manifest (32 connections, 2 threads). Prints two tables (throughput with ratios against
 * both nginx rows; latency, CPU and RSS), the multi-core row (bench/multicore.ts: workers auto against nginx's
 * worker_processes auto), the Redis round trip's share of a manifest HEAD in a push session (bench/redis-share.ts),
 * and issues 20, 21 and 14's targets as met/missed. Exits 1 if a runtime
 * failed to start or a target answered with errors (non-2xx, socket errors, wrong bytes).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { startRegistry, type Registry } from '../test/support/registry.ts';
import { multicoreRows, multicoreTable, MULTICORE_RUNTIMES } from './multicore.ts';
import { redisShare } from './redis-share.ts';
import { listFlag, numberFlag, readFlags } from './flags.ts';
import { buildHeadload, checkManifest, MiB, patternBlock, pullBlob, pushBlob, repeatedDigest, runWrk, type WrkResult } from './load.ts';
import {
  BUN,
  DENO,
  lastLines,
  MANIFEST,
  MANIFEST_TYPE,
  NGINX,
  processTree,
  ROOT,
  cpuSeconds,
  otherLoad,
  rssOf,
  RUNTIME_LABEL,
  RUNTIMES,
  sampleRss,
  NGINX_LABEL,
  startMethodSplitNginx,
  startRouter,
  startStaticOrigin,
  type Nginx,
  type NginxRecipe,
  type Proc,
  type Runtime,
} from './procs.ts';
import { createHash } from 'node:crypto';

// ---------------------------------------------------------------- flags

function parseFlags(argv: string[]) {
  const string = { type: 'string' } as const;
  const flag = { type: 'boolean' } as const;
  const values = readFlags(
    argv,
    {
      'blob-mib': string,
      'rss-gib': string,
      duration: string,
      warmup: string,
      'min-mibs': string,
      connections: string,
      threads: string,
      runtimes: string,
      out: string,
      'access-log': flag,
      'no-multicore': flag,
      'no-redis': flag,
    },
    import.meta.url,
  );
  return {
    blobMib: numberFlag('blob-mib', values['blob-mib'], 1024, 1),
    rssGib: numberFlag('rss-gib', values['rss-gib'], 4, 0, false),
    duration: numberFlag('duration', values.duration, 10, 1),
    warmup: numberFlag('warmup', values.warmup, 2, 0),
    minMiBs: numberFlag('min-mibs', values['min-mibs'], 20, 0, false),
    connections: numberFlag('connections', values.connections, 32, 1),
    threads: numberFlag('threads', values.threads, 2, 1),
    runtimes: listFlag('runtimes', values.runtimes, RUNTIMES) as Runtime[],
    out: resolve(values.out ?? join(ROOT, 'bench/results/latest.md')),
    accessLog: values['access-log'] === true,
    /** The multi-core row (bench/multicore.ts) and the Redis round trip's share (bench/redis-share.ts). */
    multicore: values['no-multicore'] !== true,
    redis: values['no-redis'] !== true,
  };
}

// ---------------------------------------------------------------- machine

function version(cmd: string, args: string[]): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (run.error) return `unavailable (${run.error.message})`;
  return `${run.stdout ?? ''}\n${run.stderr ?? ''}`.trim().split('\n')[0]!.trim();
}

function machine() {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    bun: version(BUN, ['--version']),
    deno: version(DENO, ['--version']).replace(/^deno /, ''),
    workerd: `${pkg('workerd')} (miniflare ${pkg('miniflare')})`,
    nginx: version(NGINX, ['-v']).replace(/^nginx version: /, ''),
    wrk: version('wrk', ['-v']).replace(/\s+Copyright.*/, ''),
    registry: version('/usr/bin/docker-registry', ['--version']),
  };
}

const loadavg = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------- measuring

interface Row {
  name: string;
  kind: 'direct' | 'nginx' | 'router';
  runtime?: Runtime;
  /** Which nginx anchor (nginx rows only). */
  recipe?: NginxRecipe;
  failed?: string;
  getMiBs?: number;
  putMiBs?: number;
  get?: WrkResult;
  head?: WrkResult;
  rssIdle?: number;
  rssPeak?: number;
  rssMiBs?: number;
  /** Share of the machine's CPU used by processes outside the bench while this row ran. */
  others?: number;
  /** Router (or nginx) CPU time per request during the wrk GET and HEAD runs, in µs. */
  cpuGetUs?: number;
  cpuHeadUs?: number;
  /** CPU used during the blob GET, in cores (1 = one core busy all along): load client, proxy, origin registry. */
  getCpu?: { client: number; proxy?: number; origin?: number };
  errors: string[];
  notes: string[];
}

const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

interface BenchEndpoint {
  /** Base URL for blob requests (Host: 127.0.0.1:port). */
  blobs: string;
  /** Base URL for manifest requests (sent with Host: static.bench). */
  small: string;
  /** Process tree whose RSS is sampled; none for the direct origin. */
  pid?: number;
  /** The router process, checked for an early exit between phases. */
  proc?: Proc;
  /** Process tree whose CPU time per small request is reported (the origin's for the direct row). */
  cpuPid?: number;
}

/** CPU time (s) of the bench process itself: the blob client runs here. */
const clientCpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

async function measure(row: Row, target: BenchEndpoint, ctx: Context): Promise<void> {
  const alive = () => {
    if (target.proc?.exited())
      throw new Error(`process exited (${target.proc.child.exitCode ?? target.proc.child.signalCode}): ${lastLines(target.proc.stderr())}`);
  };
  const phase = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
      alive();
    } catch (error) {
      if (target.proc?.exited()) throw error;
      row.errors.push(`${what}: ${(error as Error).message}`);
      log(`${row.name}: ${what} FAILED: ${(error as Error).message}`);
    }
  };

  if (target.pid) row.rssIdle = rssOf(processTree(target.pid));
  const meter = otherLoad();
  try {
    await measurePhases(row, target, ctx, phase);
  } finally {
    row.others = meter.stop();
    log(`${row.name}: other processes used ${(row.others * 100).toFixed(0)}% of the CPU meanwhile`);
  }
}

async function measurePhases(row: Row, target: BenchEndpoint, ctx: Context, phase: (what: string, run: () => Promise<void>) => Promise<void>): Promise<void> {
  const { flags } = ctx;
  // A transfer slower than --min-mibs on average is cut (and counted as an error) to bound the run time.
  const limit = (mib: number) => (flags.minMiBs > 0 ? Math.max(30, mib / flags.minMiBs) : Infinity);

  // Deno's chunked uploads crawl and workerd streams at ~70 MiB/s: at 4 GiB each way they alone
  // would take most of the 10-minute budget, so they stream the --blob-mib blob instead (the table says so).
  const slow = row.runtime === 'deno' || row.runtime === 'workerd';
  const rssMib = slow ? Math.min(Math.round(flags.rssGib * 1024), flags.blobMib) : Math.round(flags.rssGib * 1024);
  if (slow && rssMib < flags.rssGib * 1024) row.notes.push(`RSS over ${rssMib} MiB each way (slow runtime)`);
  if (target.pid && rssMib > 0) {
    await phase(`RSS ${rssMib} MiB up+down`, async () => {
      const count = rssMib;
      const digest = count === flags.blobMib ? ctx.blobDigest : ctx.rssDigest;
      let seconds = 0;
      const failures: string[] = [];
      // Each direction's peak, for the log: which half sets the figure.
      const peaks: string[] = [];
      row.rssPeak = 0;
      // Down even when up failed: the peak of each direction counts.
      for (const [what, run] of [
        ['up', () => pushBlob(target.blobs, 'bench/rss', ctx.block, count, digest, limit(count))],
        ['down', () => pullBlob(target.blobs, 'bench/blob', digest, count * MiB, limit(count))],
      ] as const) {
        const sampler = sampleRss(target.pid!);
        try {
          seconds += await run();
        } catch (error) {
          failures.push(`${what}: ${(error as Error).message}`);
          if (target.proc?.exited()) break;
        } finally {
          const peak = sampler.stop();
          peaks.push(`${what} ${mb(peak)}`);
          row.rssPeak = Math.max(row.rssPeak, peak);
        }
      }
      const rate = failures.length ? '' : `, ${((2 * count) / seconds).toFixed(0)} MiB/s`;
      log(`${row.name}: peak RSS ${mb(row.rssPeak)} MB over ${2 * count} MiB (${peaks.join(', ')} MB${rate})`);
      if (failures.length) throw new Error(failures.join('; '));
      row.rssMiBs = (2 * count) / seconds;
    });
  }

  await phase(`blob GET ${flags.blobMib} MiB`, async () => {
    // Who is busy during the transfer tells whether the client, the proxy or the origin bounds it.
    const before = { client: clientCpu(), proxy: target.pid ? cpuSeconds(target.pid) : NaN, origin: ctx.registryPid ? cpuSeconds(ctx.registryPid) : NaN };
    const seconds = await pullBlob(target.blobs, 'bench/blob', ctx.blobDigest, flags.blobMib * MiB, limit(flags.blobMib));
    row.getMiBs = flags.blobMib / seconds;
    const share = (n: number) => (Number.isFinite(n) ? n / seconds : undefined);
    row.getCpu = {
      client: (clientCpu() - before.client) / seconds,
      proxy: share(target.pid ? cpuSeconds(target.pid) - before.proxy : NaN),
      origin: share(ctx.registryPid ? cpuSeconds(ctx.registryPid) - before.origin : NaN),
    };
    const pct = (n: number | undefined) => (n === undefined ? 'n/a' : `${(n * 100).toFixed(0)}%`);
    log(
      `${row.name}: blob GET ${row.getMiBs.toFixed(0)} MiB/s (CPU client ${pct(row.getCpu.client)}, ` +
        `proxy ${pct(row.getCpu.proxy)}, origin ${pct(row.getCpu.origin)})`,
    );
  });
  await phase(`blob PUT ${flags.blobMib} MiB`, async () => {
    row.putMiBs = flags.blobMib / (await pushBlob(target.blobs, 'bench/put', ctx.block, flags.blobMib, ctx.blobDigest, limit(flags.blobMib)));
    log(`${row.name}: blob PUT ${row.putMiBs.toFixed(0)} MiB/s`);
  });

  await phase('manifest check', async () => {
    const { errors, notes } = await checkManifest(target.small, ctx.manifestPath, 'static.bench', {
      type: MANIFEST_TYPE,
      digest: ctx.manifestDigest,
      length: MANIFEST.length,
    });
    row.notes.push(...notes);
    if (errors.length) throw new Error(errors.join('; '));
  });
  const wrk = (seconds: number, headload?: string) =>
    runWrk({
      url: target.small + ctx.manifestPath,
      host: 'static.bench',
      accept: MANIFEST_TYPE,
      seconds,
      connections: flags.connections,
      threads: flags.threads,
      headload,
    });
  const check = (what: string, result: WrkResult) => {
    if (result.errors) row.errors.push(`wrk ${what}: ${result.errorText}`);
    if (result.requests === 0) row.errors.push(`wrk ${what}: no request completed`);
  };
  if (flags.warmup > 0) await phase('wrk warm-up', async () => check('warm-up', await wrk(flags.warmup)));
  const cpu = () => (target.cpuPid ? cpuSeconds(target.cpuPid) : NaN);
  const perRequest = (before: number, result: WrkResult) => ((cpu() - before) * 1e6) / result.requests;
  await phase('wrk GET', async () => {
    const before = cpu();
    row.get = await wrk(flags.duration);
    row.cpuGetUs = perRequest(before, row.get);
    check('GET', row.get);
    log(
      `${row.name}: GET ${row.get.rps.toFixed(0)} req/s ` +
        `p50 ${row.get.p50ms.toFixed(2)} ms p99 ${row.get.p99ms.toFixed(2)} ms${row.get.errors ? ` ERRORS ${row.get.errorText}` : ''}`,
    );
  });
  await phase('HEAD load', async () => {
    const before = cpu();
    row.head = await wrk(flags.duration, ctx.headload);
    row.cpuHeadUs = perRequest(before, row.head);
    check('HEAD', row.head);
    log(
      `${row.name}: HEAD ${row.head.rps.toFixed(0)} req/s ` +
        `p50 ${row.head.p50ms.toFixed(2)} ms p99 ${row.head.p99ms.toFixed(2)} ms${row.head.errors ? ` ERRORS ${row.head.errorText}` : ''}`,
    );
  });
}

interface Context {
  flags: ReturnType<typeof parseFlags>;
  block: Buffer;
  blobDigest: string;
  rssDigest: string;
  manifestDigest: string;
  manifestPath: string;
  headload: string;
  /** The docker-registry process, whose CPU is shown for the blob GET (undefined if not found). */
  registryPid?: number;
}

// ---------------------------------------------------------------- report

const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 1e6).toFixed(0));
const num = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;

/** The rows the ratios are taken against: the origin and both nginx anchors (failed ones count as absent). */
function anchors(rows: Row[]) {
  const ok = (r: Row | undefined) => (r && !r.failed ? r : undefined);
  return {
    direct: ok(rows.find((r) => r.kind === 'direct')),
    original: ok(rows.find((r) => r.recipe === 'original')),
    tuned: ok(rows.find((r) => r.recipe === 'tuned')),
  };
}

const markdownTable = (header: string[], lines: string[][], leftColumns: number[]): string => {
  const fmt = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [fmt(header), fmt(header.map((_, i) => (leftColumns.includes(i) ? '---' : '---:'))), ...lines.map(fmt)].join('\n');
};

/**
 * The two markdown tables: throughput with ratios against both nginx anchors and the origin, then
 * latency (p99 against both anchors), CPU and RSS. A row's ratio against itself is left blank.
 */
function tables(rows: Row[]): { throughput: string; latency: string } {
  const { direct, original, tuned } = anchors(rows);
  /** `pick(r) / pick(anchor)`, blank on the anchor's own row. */
  const vs = (r: Row, anchor: Row | undefined, pick: (r: Row) => number | undefined) => (r === anchor ? '' : ratio(pick(r), anchor ? pick(anchor) : undefined));
  const failed = (r: Row, width: number) => [r.name, `**FAILED**: ${r.failed!.replace(/\|/g, '\\|').slice(0, 300)}`, ...Array(width - 2).fill('')];

  const getMiBs = (r: Row) => r.getMiBs;
  const putMiBs = (r: Row) => r.putMiBs;
  const getRps = (r: Row) => r.get?.rps;
  const headRps = (r: Row) => r.head?.rps;
  const throughputHeader = [
    'target',
    'blob GET MiB/s',
    '× orig.',
    '× tuned',
    '× direct',
    'blob PUT MiB/s',
    '× orig.',
    '× tuned',
    '× direct',
    'GET req/s',
    '× orig.',
    '× tuned',
    'HEAD req/s',
    '× orig.',
    '× tuned',
    'errors',
  ];
  const throughput = rows.map((r) =>
    r.failed
      ? failed(r, throughputHeader.length)
      : [
          r.name,
          num(r.getMiBs),
          vs(r, original, getMiBs),
          vs(r, tuned, getMiBs),
          vs(r, direct, getMiBs),
          num(r.putMiBs),
          vs(r, original, putMiBs),
          vs(r, tuned, putMiBs),
          vs(r, direct, putMiBs),
          num(r.get?.rps),
          vs(r, original, getRps),
          vs(r, tuned, getRps),
          num(r.head?.rps),
          vs(r, original, headRps),
          vs(r, tuned, headRps),
          r.errors.length
            ? r.errors
                .map((e) => e.replace(/\|/g, '\\|'))
                .join('; ')
                .slice(0, 400)
            : 'none',
        ],
  );

  const lat = (w: WrkResult | undefined) => (w ? `${num(w.p50ms, 2)} / ${num(w.p99ms, 2)}` : '–');
  const getP99 = (r: Row) => r.get?.p99ms;
  const headP99 = (r: Row) => r.head?.p99ms;
  const cores = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : `${(n * 100).toFixed(0)}`);
  const latencyHeader = [
    'target',
    'GET p50 / p99 ms',
    'p99 × orig.',
    'p99 × tuned',
    'HEAD p50 / p99 ms',
    'p99 × orig.',
    'p99 × tuned',
    'CPU µs/req GET / HEAD',
    'CPU × tuned GET / HEAD',
    'blob GET CPU % client / proxy / origin',
    'proxy CPU s/GiB (× tuned)',
    'RSS idle → peak MB',
    "others' CPU",
  ];
  const latency = rows.map((r) =>
    r.failed
      ? [r.name, '**FAILED**', ...Array(latencyHeader.length - 2).fill('')]
      : [
          r.name,
          lat(r.get),
          vs(r, original, getP99),
          vs(r, tuned, getP99),
          lat(r.head),
          vs(r, original, headP99),
          vs(r, tuned, headP99),
          `${num(r.cpuGetUs)} / ${num(r.cpuHeadUs)}`,
          r === tuned ? '' : `${ratio(r.cpuGetUs, tuned?.cpuGetUs)} / ${ratio(r.cpuHeadUs, tuned?.cpuHeadUs)}`,
          r.getCpu ? `${cores(r.getCpu.client)} / ${r.kind === 'direct' ? 'n/a' : cores(r.getCpu.proxy)} / ${cores(r.getCpu.origin)}` : '–',
          r.kind === 'direct' ? 'n/a' : `${num(cpuPerGiB(r), 2)}${r === tuned ? '' : ` (${ratio(cpuPerGiB(r), tuned && cpuPerGiB(tuned))})`}`,
          r.kind === 'direct' ? 'n/a' : `${mb(r.rssIdle)} → ${mb(r.rssPeak)}`,
          r.others === undefined ? '–' : `${(r.others * 100).toFixed(0)}%`,
        ],
  );
  return {
    throughput: markdownTable(throughputHeader, throughput, [0, throughputHeader.length - 1]),
    latency: markdownTable(latencyHeader, latency, [0]),
  };
}

/** The proxy's CPU seconds per GiB of blob GET (its share of a core × seconds per GiB). */
const cpuPerGiB = (r: Row): number | undefined => (r.getCpu?.proxy === undefined || !r.getMiBs ? undefined : (r.getCpu.proxy * 1024) / r.getMiBs);

/** Issue 20's targets (blob GET, CPU per small request as a multiple of tuned nginx's), then issue 14's; workerd's figures as information only. */
function targets(rows: Row[], flags: Context['flags']): string[] {
  const { direct, original, tuned } = anchors(rows);
  const out: string[] = [];
  const shown = (value: number | undefined, unit: string) =>
    value === undefined || !Number.isFinite(value) ? 'not measured' : unit === '×' ? `${value.toFixed(2)}×` : `${value.toFixed(0)} ${unit}`;
  const check = (label: string, value: number | undefined, cmp: '≥' | '≤', goal: number, unit = '×', note = '') => {
    const ok = value !== undefined && Number.isFinite(value) && (cmp === '≥' ? value >= goal : value <= goal);
    out.push(`- ${ok ? 'met' : '**missed**'}: ${label} ${cmp} ${goal}${unit === '×' ? '×' : ` ${unit}`} → ${shown(value, unit)}${note}`);
  };
  const of = (rt: Runtime) => rows.find((r) => r.runtime === rt && !r.failed);
  const div = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);

  out.push('Issue 20:');
  for (const [rt, goal] of [
    ['node', 0.8],
    ['bun-node', 0.9],
    ['bun-node-native', 0.9],
    ['bun', 0.9],
    ['bun-native', 0.9],
    ['deno', 0.8],
  ] as const) {
    const r = of(rt);
    if (r) check(`${r.name}: blob GET / nginx (tuned)`, div(r.getMiBs, tuned?.getMiBs), '≥', goal);
  }
  for (const rt of ['node', 'bun-node', 'bun-node-native', 'bun', 'bun-native', 'deno'] as const) {
    const r = of(rt);
    if (r) check(`${r.name}: proxy CPU s/GiB of blob GET / nginx (tuned) (aim)`, div(r && cpuPerGiB(r), tuned && cpuPerGiB(tuned)), '≤', 2);
  }
  for (const [rt, goal] of [
    ['node', 6],
    ['bun-node', 3.5],
    ['bun', 3.5],
    ['deno', 6],
  ] as const) {
    const r = of(rt);
    if (!r) continue;
    check(`${r.name}: CPU µs per GET / nginx (tuned)`, div(r.cpuGetUs, tuned?.cpuGetUs), '≤', goal);
    check(`${r.name}: CPU µs per HEAD / nginx (tuned)`, div(r.cpuHeadUs, tuned?.cpuHeadUs), '≤', goal);
  }
  out.push('', 'Issue 14:');
  for (const [rt, goal] of [
    ['node', 0.8],
    ['bun-node', 0.8],
    ['bun', 0.8],
    ['deno', 0.7],
  ] as const) {
    const r = of(rt);
    if (r) check(`${r.name}: blob GET / nginx (tuned)`, div(r.getMiBs, tuned?.getMiBs), '≥', goal);
  }
  for (const rt of ['node', 'bun-node', 'bun', 'deno'] as const) {
    const r = of(rt);
    if (r) check(`${r.name}: blob PUT / direct`, div(r.putMiBs, direct?.putMiBs), '≥', 0.95);
  }
  for (const [rt, goals] of [
    [
      'bun-node',
      [
        ['tuned', 0.5],
        ['original', 1.2],
      ],
    ],
    [
      'bun',
      [
        ['tuned', 0.5],
        ['original', 1.2],
      ],
    ],
    ['node', [['original', 0.6]]],
    ['deno', [['original', 0.6]]],
  ] as const) {
    const r = of(rt);
    if (!r) continue;
    for (const [anchor, goal] of goals) {
      const base = anchor === 'tuned' ? tuned : original;
      check(`${r.name}: GET req/s / nginx (${anchor})`, div(r.get?.rps, base?.get?.rps), '≥', goal);
      check(`${r.name}: HEAD req/s / nginx (${anchor})`, div(r.head?.rps, base?.head?.rps), '≥', goal);
    }
  }
  for (const rt of ['node', 'bun-node', 'bun', 'deno'] as const) {
    const r = of(rt);
    if (!r) continue;
    check(`${r.name}: GET p99 / nginx (tuned)`, div(r.get?.p99ms, tuned?.get?.p99ms), '≤', 2);
    check(`${r.name}: HEAD p99 / nginx (tuned)`, div(r.head?.p99ms, tuned?.head?.p99ms), '≤', 2);
  }
  const node = of('node');
  if (node) {
    // The target is for 4 GiB each way; a shorter run still shows the peak, marked as such.
    const note = flags.rssGib === 0 ? ' (--rss-gib 0)' : flags.rssGib !== 4 ? ` (over ${flags.rssGib} GiB each way; the target is for 4 GiB)` : '';
    check(`${node.name}: peak RSS streaming 4 GiB each way`, node.rssPeak === undefined ? undefined : node.rssPeak / 1e6, '≤', 120, 'MB', note);
  }
  const workerd = of('workerd');
  if (workerd) {
    out.push(
      `- info (no target; workerd's streaming is capped elsewhere by design): ${workerd.name}: ` +
        `blob GET ${shown(div(workerd.getMiBs, tuned?.getMiBs), '×')} nginx (tuned), ` +
        `blob PUT ${shown(div(workerd.putMiBs, direct?.putMiBs), '×')} direct, ` +
        `GET req/s ${shown(div(workerd.get?.rps, original?.get?.rps), '×')} nginx (original)`,
    );
  }
  return out;
}

// ---------------------------------------------------------------- main

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

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const started = Date.now();
  const m = machine();
  const loadBefore = loadavg();
  log(`${m.cpu}, ${m.cores} cores; node ${m.node}, bun ${m.bun}, deno ${m.deno}, workerd ${m.workerd}; load ${loadBefore}`);

  const dir = mkdtempSync(join(os.tmpdir(), 'rr-bench-'));
  const procs: { stop(): Promise<void> }[] = [];
  let registry: Registry | undefined;
  const rows: Row[] = [];
  let multicore: string | undefined;
  let redis: string | undefined;
  const cleanup = async () => {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    await registry?.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  // Ctrl-C: stop what runs and remove the temp dirs (the registry's holds GiBs of blobs).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
    const manifestDigest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

    log('starting docker-registry, static nginx origin, method-split nginx (original and tuned)');
    registry = await startRegistry({ name: 'bench', logLevel: 'error' });
    const staticOrigin: Nginx = await startStaticOrigin(join(dir, 'static'), manifestDigest);
    procs.push(staticOrigin.proc);
    const origins = { registry: registry.url, static: staticOrigin.url };
    const nginxes: [NginxRecipe, Nginx][] = [];
    for (const recipe of ['original', 'tuned'] as const) {
      const nginx = await startMethodSplitNginx(join(dir, `nginx-${recipe}`), origins, recipe);
      procs.push(nginx.proc);
      nginxes.push([recipe, nginx]);
    }

    const block = await patternBlock();
    const rssCount = Math.round(flags.rssGib * 1024);
    const blobDigest = repeatedDigest(block, flags.blobMib);
    const rssDigest = rssCount > 0 ? (rssCount === flags.blobMib ? blobDigest : repeatedDigest(block, rssCount)) : blobDigest;
    log(`seeding the registry: ${flags.blobMib} MiB blob${rssCount > 0 && rssCount !== flags.blobMib ? ` and ${rssCount} MiB blob` : ''}`);
    await pushBlob(registry.url, 'bench/blob', block, flags.blobMib, blobDigest);
    if (rssCount > 0 && rssCount !== flags.blobMib) await pushBlob(registry.url, 'bench/blob', block, rssCount, rssDigest);

    const registryPid = pidWith(registry.configFile);
    const ctx: Context = { flags, block, blobDigest, rssDigest, manifestDigest, manifestPath: '/v2/bench/static/manifests/latest', headload, registryPid };

    const direct: Row = { name: 'direct (origin)', kind: 'direct', errors: [], notes: [] };
    rows.push(direct);
    log('direct: registry for blobs, static nginx for manifests');
    await measure(direct, { blobs: registry.url, small: staticOrigin.url, cpuPid: staticOrigin.proc.pid }, ctx);

    for (const [recipe, nginx] of nginxes) {
      const viaNginx: Row = { name: NGINX_LABEL[recipe], kind: 'nginx', recipe, errors: [], notes: [] };
      rows.push(viaNginx);
      log(`${viaNginx.name}: method-split config`);
      await measure(viaNginx, { blobs: nginx.url, small: nginx.url, pid: nginx.proc.pid, cpuPid: nginx.proc.pid }, ctx);
    }

    for (const runtime of flags.runtimes) {
      const label = runtime === 'node' && process.env.BENCH_NODE_BUNDLE ? `node (${process.env.BENCH_NODE_BUNDLE})` : RUNTIME_LABEL[runtime];
      const row: Row = { name: label, kind: 'router', runtime, errors: [], notes: [] };
      rows.push(row);
      log(`router on ${row.name}`);
      let router: Awaited<ReturnType<typeof startRouter>> | undefined;
      try {
        router = await startRouter(runtime, join(dir, 'routers'), origins, { accessLog: flags.accessLog });
        await measure(row, { blobs: router.url, small: router.url, pid: router.proc.pid, proc: router.proc, cpuPid: router.proc.pid }, ctx);
      } catch (error) {
        row.failed = (error as Error).message;
        log(`${row.name}: FAILED: ${row.failed}`);
      } finally {
        await router?.proc.stop();
      }
    }
    if (flags.multicore) {
      // A 256 MiB blob for the 8 parallel GETs; the tuned nginx (worker_processes auto) is the anchor.
      const blobMiB = 256;
      const digest = repeatedDigest(block, blobMiB);
      if (blobMiB !== flags.blobMib) await pushBlob(registry!.url, 'bench/blob', block, blobMiB, digest);
      const tunedNginx = nginxes.find(([recipe]) => recipe === 'tuned')![1];
      const runtimes = MULTICORE_RUNTIMES.filter((rt) => flags.runtimes.some((r) => r === rt || r.startsWith(`${rt}-`)));
      const result = await multicoreRows({
        origins,
        nginx: tunedNginx,
        blobDigest: digest,
        blobMiB,
        parallel: 8,
        duration: flags.duration,
        connections: 64,
        threads: flags.threads,
        runtimes,
        dir: join(dir, 'multicore'),
        log,
      });
      multicore = multicoreTable(result, { parallel: 8, blobMiB, connections: 64 });
    }
    if (flags.redis) {
      log('Redis round trip inside a push session (node)');
      redis = (await redisShare('node', 2000)).line;
    }
  } finally {
    await cleanup();
  }

  const loadAfter = loadavg();
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const tbl = tables(rows);
  const goals = targets(rows, flags);
  const bad = rows.filter((r) => r.failed || r.errors.length);
  const md = [
    `# registry-router benchmark`,
    '',
    `\`${command}\` — ${new Date(started).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.kernel}; node ${m.node}, bun ${m.bun}, deno ${m.deno}, ` +
      `workerd ${m.workerd}; ${m.nginx}, ${m.wrk}, ${m.registry}. Load average (1/5/15 min) before ${loadBefore}, after ${loadAfter}.`,
    '',
    `Everything on 127.0.0.1 on this machine: client, proxy and origins share the ${m.cores} cores, ` +
      `so numbers move with other load on the machine (see the load average).`,
    `Blob GET/PUT: one ${flags.blobMib} MiB blob streamed by a raw-socket client that only counts bytes and repeats one 1 MiB ` +
      `block (as fast as curl here); a transfer averaging under ${flags.minMiBs} MiB/s is cut and counted as an error ` +
      `(PUT = POST + one chunked PATCH + PUT ?digest, as docker pushes). ` +
      `Small requests: wrk -t${flags.threads} -c${flags.connections} -d${flags.duration}s (after a ${flags.warmup} s warm-up) ` +
      `GET, and the same load from bench/headload.c for HEAD (wrk 4.1 cannot parse HEAD answers), ` +
      `of a ${MANIFEST.length}-byte manifest served by nginx with registry headers. ` +
      `RSS: summed VmRSS of the process tree (miniflare: node + workerd; nginx: master + workers), ` +
      `idle after start and peak while streaming ${flags.rssGib} GiB up then ${flags.rssGib} GiB down, sampled every 100 ms. ` +
      `Two nginx anchors, both GET → group, else → hosted, with proxy_request_buffering off, ` +
      `client_max_body_size 0 and worker_processes auto: "nginx (original)" is the recipe users run today (proxy_buffering off; ` +
      `HTTP/1.0 to the origin, no upstream keep-alive); "nginx (tuned)" adds proxy_http_version 1.1, ` +
      `Connection "" and keepalive 64 per upstream, proxy_buffering on with 1 MiB buffers (proxy_buffer_size 1m; ` +
      `proxy_buffers 4 1m; proxy_busy_buffers_size 2m) and proxy_max_temp_file_size 0 (buffers in memory, never a temp file). ` +
      `"× orig." and "× tuned" are ratios against those two rows. Access logs off on nginx and the router. ` +
      `"CPU µs/req": CPU time the router (nginx: master + workers; direct: the origin nginx) spent per small request, ` +
      `which moves less with other load than req/s does. "blob GET CPU %": CPU the load client (the bench process), ` +
      `the proxy and the origin docker-registry used during the blob GET, in % of one core ` +
      `(100 = one core busy all along; ${m.cores} cores in all; coarse under a second: /proc counts 10 ms ticks). "others' CPU": ` +
      `share of all cores used by processes outside the bench while that row ran — rows with a high share are noisy.`,
    '',
    '**Throughput**',
    '',
    tbl.throughput,
    '',
    '**Latency (wrk GET / headload HEAD), CPU, memory**',
    '',
    tbl.latency,
    '',
    ...(multicore ? [multicore, ''] : []),
    ...(redis ? [`**Sessions in Redis**: ${redis}`, ''] : []),
    ...(rows.some((r) => r.notes.length) ? ['Notes:', '', ...rows.flatMap((r) => r.notes.map((n) => `- ${r.name}: ${n}`)), ''] : []),
    '**Targets** (issues 20 and 14):',
    '',
    ...goals,
    '',
  ].join('\n');
  console.log(`\n${md}`);
  mkdirSync(dirname(flags.out), { recursive: true });
  writeFileSync(flags.out, md);
  log(`wrote ${relative(process.cwd(), flags.out) || flags.out}`);
  if (bad.length) {
    log(`errors in: ${bad.map((r) => r.name).join(', ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
