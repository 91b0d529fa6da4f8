/**
 * CPU profile of the router on the small-request path: the static manifest origin (nginx), the
 * router on one runtime under its own profiler, wrk GET (and HEAD with headload) against it, then
 * where the time went (bench/cpuprofile-top.ts: self time by area and function, inclusive time).
 *
 *   npm run build && npx tsx bench/profile.ts [--runtime node|bun|bun-node|deno] [--duration 10]
 *       [--method GET|HEAD|both] [--keep DIR] [--entry FILE] [--interval µs] [--flags '--a --b'] [--no-profile]
 *       [--blob MiB]
 *
 * - node: `node --cpu-prof dist/node.mjs` (BENCH_NODE_BUNDLE picks another bundle, for an A/B);
 * - bun / bun-node: `bun --cpu-prof run src/bun.ts` / `src/node.ts` (V8-format profile on exit;
 *   `--interval` µs between samples, Bun's default 1000 gives few samples in a short run);
 * - deno: `deno run --cpu-prof-dir DIR src/deno.ts` (Deno ≥ 2.7 writes it on exit, Deno.exit included).
 *
 * `--entry` runs another file of the adapter (a variant to compare), `--flags` go to the runtime
 * before the script, `--no-profile` runs the same load without the profiler (its overhead aside).
 * `--blob MiB` profiles the blob path instead: a docker-registry origin with one blob of that size,
 * pulled through the router by load.ts's raw-socket client one GET after another for `--duration` s
 * (MiB/s and the router's CPU seconds per GiB printed; the profile covers the warm-up GET too).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.ts';
import { summarise } from './cpuprofile-top.ts';
import { buildHeadload, manifestLoad, MiB, patternBlock, pullBlob, pushBlob, repeatedDigest } from './load.ts';
import { BUN, cpuSeconds, DENO, launch, MANIFEST, ROOT, startStaticOrigin, waitFor } from './procs.ts';
import { startRegistry, type Registry } from '../test/support/registry.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const runtime = arg('--runtime', 'node');
const duration = Number(arg('--duration', '10'));
const method = arg('--method', 'GET');
const keep = process.argv.includes('--keep') ? arg('--keep', '') : '';
const profiling = !process.argv.includes('--no-profile');
const flags = arg('--flags', '').split(' ').filter(Boolean);
const interval = arg('--interval', '250');
const blobMib = Number(arg('--blob', '0'));
const ENTRIES: Record<string, string> = {
  node: process.env.BENCH_NODE_BUNDLE || 'dist/node.mjs',
  bun: 'src/bun.ts',
  'bun-node': 'src/node.ts',
  deno: 'src/deno.ts',
};
if (!(runtime in ENTRIES)) throw new Error(`--runtime ${runtime}: one of ${Object.keys(ENTRIES).join(', ')}`);
const entry = arg('--entry', ENTRIES[runtime]!);

/** The router's command line on `runtime`, writing its profile into `profiles`. */
function command(config: string, profiles: string): [string, string[]] {
  const script = [entry, '--config', config];
  if (runtime === 'node') return [process.execPath, [...(profiling ? ['--cpu-prof', '--cpu-prof-dir', profiles] : []), ...flags, ...script]];
  if (runtime === 'deno')
    return [DENO, ['run', ...(profiling ? [`--cpu-prof-dir=${profiles}`] : []), ...flags, '--allow-net', '--allow-read', '--allow-env', ...script]];
  return [BUN, [...(profiling ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`, `--cpu-prof-interval=${interval}`] : []), ...flags, 'run', ...script]];
}

const dir = mkdtempSync(join(os.tmpdir(), 'rr-profile-'));
const profiles = join(dir, 'profiles');
let registry: Registry | undefined;
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const port = await freePort();
  const config = join(dir, 'router.json');
  let blobDigest = '';
  if (blobMib > 0) {
    registry = await startRegistry({ name: 'profile', logLevel: 'error' });
    const block = await patternBlock();
    blobDigest = repeatedDigest(block, blobMib);
    await pushBlob(registry.url, 'bench/blob', block, blobMib, blobDigest);
  }
  // The bench's static site and, for --blob, its registry site (bench/procs.ts startRouter), access log off.
  writeFileSync(
    config,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      accessLog: false,
      sites: [
        { name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${origin.url}/` },
        ...(registry ? [{ name: 'registry', hosts: ['127.0.0.1'], preset: 'docker', upstream: `${registry.url}/` }] : []),
      ],
    }),
  );
  const [program, args] = command(config, profiles);
  const router = launch(program, args, { cwd: ROOT, env: { ...process.env, PORT: '', NODE_ENV: 'production' } });
  await waitFor(router, () => /listening on/.test(router.stderr()), `${runtime} ${entry}`, 45_000);
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const load = (seconds: number, head: boolean) => manifestLoad(`http://127.0.0.1:${port}`, seconds, head ? headload : undefined);
  if (blobMib > 0) {
    const pull = () => pullBlob(`http://127.0.0.1:${port}`, 'bench/blob', blobDigest, blobMib * MiB, 300);
    await pull(); // warm-up (JIT); part of the profile
    const cpu = cpuSeconds(router.pid);
    let seconds = 0;
    let count = 0;
    while (seconds < duration || count === 0) {
      seconds += await pull();
      count++;
    }
    const gib = (count * blobMib) / 1024;
    console.log(
      `blob GET ${profiling ? 'under the profiler' : 'without the profiler'} (${runtime} ${entry}): ${count} × ${blobMib} MiB, ` +
        `${((count * blobMib) / seconds).toFixed(0)} MiB/s, ${((cpuSeconds(router.pid) - cpu) / gib).toFixed(2)} s CPU/GiB`,
    );
  } else await load(2, false); // warm-up (JIT); part of the profile, a small share of it
  for (const head of blobMib > 0 ? [] : method === 'both' ? [false, true] : [method === 'HEAD']) {
    const r = await load(duration, head);
    console.log(
      `${head ? 'HEAD' : 'GET'} ${profiling ? 'under the profiler' : 'without the profiler'} ` +
        `(${runtime} ${entry}): ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, ` +
        `p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ERRORS ${r.errorText}` : ''}`,
    );
  }
  // SIGTERM: the router drains and exits 0, which is when each runtime writes its profile.
  await router.stop('SIGTERM');
  await origin.proc.stop();
  if (profiling) {
    const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${profiles}; router stderr: ${router.stderr()}`);
    if (keep) {
      mkdirSync(keep, { recursive: true });
      copyFileSync(join(profiles, file), join(keep, file));
      console.log(`profile kept as ${join(keep, file)}`);
    }
    console.log(summarise(JSON.parse(readFileSync(join(profiles, file), 'utf8')), 30));
  }
} finally {
  await registry?.destroy().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
