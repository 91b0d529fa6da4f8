/**
 * The Node router's RSS during one upload (then one download), sampled finely, for issue 20's
 * "peak RSS ≤ 120 MB over 4 GiB each way": a docker-registry origin, one or more router bundles
 * started fresh each round (alternating, so old and new share the machine's state), a chunked
 * PATCH of --mib MiB as the bench's RSS phase sends it, then a GET of the same blob. Per round and
 * bundle: idle RSS, each direction's peak (VmRSS, as bench/procs.ts samples it, but every --every
 * ms), its MiB/s and the router's CPU seconds per GiB; with --trace the upload's first samples
 * (ms:MB), with --smaps the mappings whose resident size grew most between idle and the upload's
 * peak (/proc/PID/smaps). --node-arg passes a flag to node (e.g. --trace-wasm-compilation-times).
 *
 * --bun-http ENTRY (repeatable, e.g. src/node.ts of a tree) runs `bun run ENTRY` with a PyPI site
 * beside the docker one, as the bench's `bun-node-http` row: Bun serving through its node:http
 * (src/adapter/node/on-bun.ts). With --bun-stats such a router also writes, every 50 ms, Bun's
 * `process.memoryUsage()` and `bun:jsc` heapStats() to a file, and each direction's line prints
 * them at the RSS peak and their maxima (MB). --bun ENTRY runs `bun run ENTRY` with the docker site
 * alone (Bun.serve, the bench's `bun-node` row with src/node.ts, `bun` with src/bun.ts).
 *
 *   npx tsx bench/rss-trace.ts --bundle dist/node.mjs --bundle /work/wt/dist/node.mjs --rounds 5 --mib 4096
 *   npx tsx bench/rss-trace.ts --bun-http src/node.ts --rounds 3 --mib 4096 --bun-stats
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRegistry } from '../test/support/registry.ts';
import { patternBlock, pullBlob, pushBlob, repeatedDigest, MiB } from './load.ts';
import { BUN, cpuSeconds, launch, waitFor, writeRegistryConfig } from './procs.ts';
import { freePort } from '../test/support/ports.ts';

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true },
    'bun-http': { type: 'string', multiple: true },
    bun: { type: 'string', multiple: true },
    'bun-stats': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    mib: { type: 'string', default: '4096' },
    every: { type: 'string', default: '10' },
    smaps: { type: 'boolean', default: false },
    'node-arg': { type: 'string', multiple: true },
    trace: { type: 'boolean', default: false },
  },
});
/** What one round starts: a Node bundle, or `bun run` of an entry serving through Bun's node:http. */
type Target = { label: string; kind: 'node' | 'bun-http' | 'bun'; path: string };
const targets: Target[] = [
  ...(values.bundle ?? []).map((path) => ({ label: path, kind: 'node' as const, path })),
  ...(values['bun-http'] ?? []).map((path) => ({ label: `bun-http ${path}`, kind: 'bun-http' as const, path })),
  ...(values.bun ?? []).map((path) => ({ label: `bun ${path}`, kind: 'bun' as const, path })),
];
if (targets.length === 0) targets.push({ label: 'dist/node.mjs', kind: 'node', path: 'dist/node.mjs' });
const rounds = Number(values.rounds);
const mib = Number(values.mib);
const every = Number(values.every);

/** Resident kB per mapping (address range plus name), from /proc/PID/smaps. */
function smaps(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let current = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = `${head[1]} ${head[2] || '[anon]'}`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out.set(current, Number(rss[1]));
  }
  return out;
}

function vmRss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/** Samples VmRSS every `every` ms; keeps the peak, its time, and (with --smaps) the mappings at the peak. */
function sampler(pid: number, started: number) {
  let peak = vmRss(pid);
  let at = 0;
  let peakMaps: Map<string, number> | undefined;
  const series: [number, number][] = [];
  const timer = setInterval(() => {
    const rss = vmRss(pid);
    const t = performance.now() - started;
    if (values.trace) series.push([Math.round(t), Math.round(rss / 1e6)]);
    if (rss > peak) {
      peak = rss;
      at = t;
      if (values.smaps) peakMaps = smaps(pid);
    }
  }, every);
  return {
    stop() {
      clearInterval(timer);
      return { peak: Math.max(peak, vmRss(pid)), at, peakMaps, series };
    },
  };
}

/** Preloaded into a Bun router with --bun-stats: one line of memory figures (bytes) every 50 ms, to the file in RSS_TRACE_STATS. */
const BUN_STATS_PRELOAD = `
import { heapStats } from 'bun:jsc';
import { appendFileSync } from 'node:fs';
const file = process.env.RSS_TRACE_STATS;
setInterval(() => {
  const m = process.memoryUsage();
  const h = heapStats();
  appendFileSync(file, [Date.now(), m.rss, h.heapSize, h.heapCapacity, h.extraMemorySize, m.external, m.arrayBuffers, h.objectCount].join(' ') + '\\n');
}, 50).unref();
`;
const STAT_NAMES = ['rss', 'heapSize', 'heapCapacity', 'extraMemory', 'external', 'arrayBuffers'] as const;

/** Bun's memory figures between two wall-clock times (ms): the line nearest `peakAt` and each figure's maximum, in MB. */
function bunStats(file: string, from: number, to: number, peakAt: number): string {
  if (!existsSync(file)) return '';
  const rows = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number))
    .filter((r) => r[0]! >= from && r[0]! <= to);
  if (rows.length === 0) return '';
  const near = rows.reduce((a, b) => (Math.abs(b[0]! - peakAt) < Math.abs(a[0]! - peakAt) ? b : a));
  const mb = (n: number) => (n / 1e6).toFixed(0);
  const at = STAT_NAMES.map((name, i) => `${name} ${mb(near[i + 1]!)}`).join(', ');
  const max = STAT_NAMES.map((name, i) => `${name} ${mb(Math.max(...rows.map((r) => r[i + 1]!)))}`).join(', ');
  return `    at peak: ${at}\n    max:     ${max}`;
}

const block = await patternBlock();
const digest = repeatedDigest(block, mib);
const registry = await startRegistry({ name: 'rss-trace', logLevel: 'error' });
const dir = mkdtempSync(join(tmpdir(), 'rss-trace-'));
const results = new Map<string, { idle: number; up: number; down: number; upAt: number }[]>();
try {
  // Seed the blob for the download half.
  await pushBlob(registry.url, 'bench/blob', block, mib, digest);
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const bundle = target.label;
      const port = await freePort();
      const config = join(dir, `router-${port}.json`);
      writeRegistryConfig(config, port, registry.url);
      const stats = join(dir, `stats-${port}.txt`);
      let command = process.execPath;
      let args = [...(values['node-arg'] ?? []), target.path, '--config', config];
      if (target.kind !== 'node') {
        if (target.kind === 'bun-http') {
          // A PyPI site makes `bun run src/node.ts` serve through node:http (its clients show reason phrases).
          const parsed = JSON.parse(readFileSync(config, 'utf8'));
          parsed.sites.push({ name: 'pypi', hosts: ['pypi.trace'], preset: 'pypi', upstream: `${registry.url}/` });
          writeFileSync(config, JSON.stringify(parsed));
        }
        const preload = join(dir, 'bun-stats.ts');
        if (values['bun-stats']) writeFileSync(preload, BUN_STATS_PRELOAD);
        command = BUN;
        args = ['run', ...(values['bun-stats'] ? ['--preload', preload] : []), target.path, '--config', config];
      }
      const proc = launch(command, args, {
        env: { ...process.env, PORT: '', NODE_ENV: 'production', RSS_TRACE_STATS: stats },
      });
      await waitFor(proc, () => /listening on/.test(proc.stderr()), 'router', 45_000);
      const base = `http://127.0.0.1:${port}`;
      const idle = vmRss(proc.pid);
      const before = values.smaps ? smaps(proc.pid) : undefined;
      const started = performance.now();
      const wall0 = Date.now();
      const cpu0 = cpuSeconds(proc.pid);
      const up = sampler(proc.pid, started);
      const upSeconds = await pushBlob(base, 'bench/rss', block, mib, digest);
      const u = up.stop();
      const cpu1 = cpuSeconds(proc.pid);
      const wall1 = Date.now();
      const down = sampler(proc.pid, performance.now());
      const downSeconds = await pullBlob(base, 'bench/blob', digest, mib * MiB);
      const d = down.stop();
      const cpu2 = cpuSeconds(proc.pid);
      const wall2 = Date.now();
      await proc.stop();
      const list = results.get(bundle) ?? [];
      list.push({ idle, up: u.peak, down: d.peak, upAt: u.at });
      results.set(bundle, list);
      console.log(
        `round ${round} ${bundle}: idle ${(idle / 1e6).toFixed(0)} MB, up ${(u.peak / 1e6).toFixed(0)} MB (at ${u.at.toFixed(0)} ms), ` +
          `down ${(d.peak / 1e6).toFixed(0)} MB; ` +
          `up ${(mib / upSeconds).toFixed(0)} MiB/s, ${(((cpu1 - cpu0) / mib) * 1024).toFixed(2)} CPU s/GiB; ` +
          `down ${(mib / downSeconds).toFixed(0)} MiB/s, ${(((cpu2 - cpu1) / mib) * 1024).toFixed(2)} CPU s/GiB`,
      );
      if (target.kind !== 'node' && values['bun-stats']) {
        console.log(`  up:\n${bunStats(stats, wall0, wall1, wall0 + u.at)}`);
        console.log(`  down:\n${bunStats(stats, wall1, wall2, wall1 + d.at)}`);
      }
      if (values.trace)
        console.log(
          `  series: ${u.series
            .slice(0, 80)
            .map(([t, r]) => `${t}:${r}`)
            .join(' ')}`,
        );
      if (before && u.peakMaps) {
        const grown = [...u.peakMaps].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v !== 0);
        grown.sort((a, b) => b[1] - a[1]);
        for (const [k, v] of grown.slice(0, 12)) console.log(`  ${v > 0 ? '+' : ''}${v} kB ${k}`);
        const total = grown.reduce((s, [, v]) => s + v, 0);
        console.log(`  total ${total} kB over ${grown.length} mappings`);
      }
    }
  }
} finally {
  await registry.destroy();
}
for (const [bundle, list] of results) {
  const f = (xs: number[]) => xs.map((x) => (x / 1e6).toFixed(0)).join('/');
  console.log(
    `${bundle}: idle ${f(list.map((r) => r.idle))}; up ${f(list.map((r) => r.up))}; down ${f(list.map((r) => r.down))}; ` +
      `max ${f([Math.max(...list.map((r) => Math.max(r.up, r.down)))])}`,
  );
}
