/**
 * CPU profile of the Deno router on the small-request path, as bench/profile.ts does for Node: the
 * static manifest origin (nginx), `deno run --cpu-prof-dir DIR src/deno.ts` (Deno ≥ 2.7 writes the
 * V8 .cpuprofile on exit, Deno.exit included), wrk GET (and HEAD with headload) against it, then
 * the same summary (bench/cpuprofile-top.ts). `--entry` profiles another adapter file, e.g. an
 * older src/deno.ts copied next to it, to compare.
 *
 *   npx tsx bench/profile-deno.ts [--duration 10] [--method GET|HEAD|both] [--entry src/deno.ts] [--keep DIR] [--no-profile] [--deno-flags '--a --b']
 *
 * `--no-profile` runs the same load without the profiler (the req/s figure without its overhead);
 * `--deno-flags` go to `deno run` before the script (e.g. `--unstable-no-legacy-abort`).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.ts';
import { summarise } from './cpuprofile-top.ts';
import { buildHeadload, runWrk } from './load.ts';
import { DENO, launch, MANIFEST, MANIFEST_TYPE, ROOT, startStaticOrigin, waitFor } from './procs.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const duration = Number(arg('--duration', '10'));
const method = arg('--method', 'GET');
const entry = arg('--entry', 'src/deno.ts');
const keep = process.argv.includes('--keep') ? arg('--keep', '') : '';
const profiling = !process.argv.includes('--no-profile');
const denoFlags = arg('--deno-flags', '').split(' ').filter(Boolean);

const dir = mkdtempSync(join(os.tmpdir(), 'rr-profile-deno-'));
const profiles = join(dir, 'profiles');
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const port = await freePort();
  const config = join(dir, 'router.json');
  // The bench's static site (bench/procs.ts startRouter), access log off.
  writeFileSync(
    config,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      accessLog: false,
      sites: [{ name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${origin.url}/` }],
    }),
  );
  const router = launch(DENO, ['run', ...(profiling ? [`--cpu-prof-dir=${profiles}`] : []), ...denoFlags, '--allow-net', '--allow-read', '--allow-env', entry, '--config', config], {
    env: { ...process.env, PORT: '' },
  });
  await waitFor(router, () => /listening on/.test(router.stderr()), 'deno router', 45_000);
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const load = (seconds: number, head: boolean) =>
    runWrk({ url: `http://127.0.0.1:${port}/v2/bench/static/manifests/latest`, host: 'static.bench', accept: MANIFEST_TYPE, seconds, connections: 32, threads: 2, headload: head ? headload : undefined });
  await load(2, false); // warm-up (JIT); part of the profile, a small share of it
  for (const head of method === 'both' ? [false, true] : [method === 'HEAD']) {
    const r = await load(duration, head);
    console.log(`${head ? 'HEAD' : 'GET'} ${profiling ? 'under the profiler' : 'without profiler'}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ERRORS ${r.errorText}` : ''}`);
  }
  // SIGTERM: the router's shutdown ends in Deno.exit(0), which writes the profile.
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
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
