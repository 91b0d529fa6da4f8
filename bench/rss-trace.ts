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
 *   npx tsx bench/rss-trace.ts --bundle dist/node.mjs --bundle /work/wt/dist/node.mjs --rounds 5 --mib 4096
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRegistry } from '../test/support/registry.ts';
import { patternBlock, pullBlob, pushBlob, repeatedDigest, MiB } from './load.ts';
import { cpuSeconds, launch, waitFor, writeRegistryConfig } from './procs.ts';
import { freePort } from '../test/support/ports.ts';

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '3' },
    mib: { type: 'string', default: '4096' },
    every: { type: 'string', default: '10' },
    smaps: { type: 'boolean', default: false },
    'node-arg': { type: 'string', multiple: true },
    trace: { type: 'boolean', default: false },
  },
});
const bundles = values.bundle ?? ['dist/node.mjs'];
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

const block = await patternBlock();
const digest = repeatedDigest(block, mib);
const registry = await startRegistry({ name: 'rss-trace', logLevel: 'error' });
const dir = mkdtempSync(join(tmpdir(), 'rss-trace-'));
const results = new Map<string, { idle: number; up: number; down: number; upAt: number }[]>();
try {
  // Seed the blob for the download half.
  await pushBlob(registry.url, 'bench/blob', block, mib, digest);
  for (let round = 1; round <= rounds; round++) {
    for (const bundle of bundles) {
      const port = await freePort();
      const config = join(dir, `router-${port}.json`);
      writeRegistryConfig(config, port, registry.url);
      const proc = launch(process.execPath, [...(values['node-arg'] ?? []), bundle, '--config', config], {
        env: { ...process.env, PORT: '', NODE_ENV: 'production' },
      });
      await waitFor(proc, () => /listening on/.test(proc.stderr()), 'router', 45_000);
      const base = `http://127.0.0.1:${port}`;
      const idle = vmRss(proc.pid);
      const before = values.smaps ? smaps(proc.pid) : undefined;
      const started = performance.now();
      const cpu0 = cpuSeconds(proc.pid);
      const up = sampler(proc.pid, started);
      const upSeconds = await pushBlob(base, 'bench/rss', block, mib, digest);
      const u = up.stop();
      const cpu1 = cpuSeconds(proc.pid);
      const down = sampler(proc.pid, performance.now());
      const downSeconds = await pullBlob(base, 'bench/blob', digest, mib * MiB);
      const d = down.stop();
      const cpu2 = cpuSeconds(proc.pid);
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
