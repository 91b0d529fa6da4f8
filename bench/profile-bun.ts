/**
 * CPU profile of the router on Bun on the small-request path (bench/profile.ts does it for Node):
 * the static manifest origin (nginx), `bun --cpu-prof run src/bun.ts` (or src/node.ts), wrk GET
 * (and HEAD with headload) against it, then the same summary of where the time went. Bun writes
 * a V8-format .cpuprofile when the process exits (the router exits 0 on SIGTERM).
 *
 *   npx tsx bench/profile-bun.ts [--entry bun|node|FILE] [--duration 10] [--method GET|HEAD|both] [--interval 250] [--keep DIR]
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.ts';
import { summarise } from './cpuprofile-top.ts';
import { buildHeadload, runWrk } from './load.ts';
import { BUN, launch, MANIFEST, MANIFEST_TYPE, ROOT, startStaticOrigin, waitFor } from './procs.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
// `bun` (src/bun.ts), `node` (src/node.ts) or a file (a variant to compare).
const entryArg = arg('--entry', 'bun');
const entry = entryArg === 'node' ? 'src/node.ts' : entryArg === 'bun' ? 'src/bun.ts' : entryArg;
const duration = Number(arg('--duration', '10'));
const method = arg('--method', 'GET');
// Microseconds between samples; Bun's default (1000) gives few samples per short run.
const interval = arg('--interval', '250');
const keep = process.argv.includes('--keep') ? arg('--keep', '') : '';

const dir = mkdtempSync(join(os.tmpdir(), 'rr-profile-bun-'));
const profiles = join(dir, 'profiles');
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const port = await freePort();
  const config = join(dir, 'router.json');
  // The site bench/procs.ts gives the router for small requests, access log off as in the bench.
  writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, accessLog: false, sites: [{ name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${origin.url}/` }] }));
  const router = launch(BUN, ['--cpu-prof', `--cpu-prof-dir=${profiles}`, `--cpu-prof-interval=${interval}`, 'run', entry, '--config', config], {
    env: { ...process.env, PORT: '', NODE_ENV: 'production' },
  });
  await waitFor(router, () => /listening on/.test(router.stderr()), `bun ${entry}`, 45_000);
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const load = (seconds: number, head: boolean) =>
    runWrk({ url: `http://127.0.0.1:${port}/v2/bench/static/manifests/latest`, host: 'static.bench', accept: MANIFEST_TYPE, seconds, connections: 32, threads: 2, headload: head ? headload : undefined });
  await load(2, false); // warm-up (JIT); part of the profile, a small share of it
  for (const head of method === 'both' ? [false, true] : [method === 'HEAD']) {
    const r = await load(duration, head);
    console.log(`${head ? 'HEAD' : 'GET'} under the profiler (bun ${entry}): ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ERRORS ${r.errorText}` : ''}`);
  }
  await router.stop('SIGTERM');
  await origin.proc.stop();
  const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profiles}; router stderr: ${router.stderr()}`);
  if (keep) {
    mkdirSync(keep, { recursive: true });
    copyFileSync(join(profiles, file), join(keep, file));
    console.log(`profile kept as ${join(keep, file)}`);
  }
  console.log(summarise(JSON.parse(readFileSync(join(profiles, file), 'utf8')), 30));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
