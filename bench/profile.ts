/**
 * CPU profile of the Node router on the small-request path: the static manifest origin (nginx),
 * `node --cpu-prof dist/node.mjs`, wrk GET (and HEAD with headload) against it, then a summary of
 * where the time went.
 *
 *   npm run build && npx tsx bench/profile.ts [--duration 10] [--method GET|HEAD|both] [--keep DIR]
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { summarise } from './cpuprofile-top.ts';
import { buildHeadload, runWrk } from './load.ts';
import { MANIFEST, MANIFEST_TYPE, ROOT, startRouter, startStaticOrigin } from './procs.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const duration = Number(arg('--duration', '10'));
const method = arg('--method', 'GET');
const keep = process.argv.includes('--keep') ? arg('--keep', '') : '';

const dir = mkdtempSync(join(os.tmpdir(), 'rr-profile-'));
const profiles = join(dir, 'profiles');
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const router = await startRouter('node', join(dir, 'router'), { registry: 'http://127.0.0.1:9', static: origin.url }, { accessLog: false, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profiles] });
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const load = (seconds: number, head: boolean) =>
    runWrk({ url: `${router.url}/v2/bench/static/manifests/latest`, host: 'static.bench', accept: MANIFEST_TYPE, seconds, connections: 32, threads: 2, headload: head ? headload : undefined });
  await load(2, false); // warm-up (JIT); part of the profile, a small share of it
  for (const head of method === 'both' ? [false, true] : [method === 'HEAD']) {
    const r = await load(duration, head);
    console.log(`${head ? 'HEAD' : 'GET'} under the profiler: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ERRORS ${r.errorText}` : ''}`);
  }
  await router.proc.stop('SIGTERM');
  await origin.proc.stop();
  const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profiles}; router stderr: ${router.proc.stderr()}`);
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
