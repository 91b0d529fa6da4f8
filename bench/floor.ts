/**
 * What bounds the Node router on small requests: nginx (original recipe), the bare Node proxy of
 * bench/floor-proxy.mjs (node:http + undici, nothing else) and the router (dist/node.mjs) behind
 * the same manifest origin, under the same wrk/headload load, taking turns for `--rounds` rounds so
 * that other load on the machine hits all three alike. Prints req/s and CPU µs per request.
 *
 *   npm run build && npx tsx bench/floor.ts [--duration 5] [--rounds 3]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { buildHeadload, runWrk } from './load.ts';
import { cpuSeconds, launch, MANIFEST, MANIFEST_TYPE, ROOT, sleep, startMethodSplitNginx, startRouter, startStaticOrigin } from './procs.ts';
import { freePort } from '../test/support/ports.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const seconds = Number(arg('--duration', '5'));
const rounds = Number(arg('--rounds', '3'));

const dir = mkdtempSync(join(os.tmpdir(), 'rr-floor-'));
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const origins = { registry: 'http://127.0.0.1:9', static: origin.url };
  const nginx = await startMethodSplitNginx(join(dir, 'nginx'), origins, 'original');
  const floorPort = await freePort();
  const floor = launch(process.execPath, [join(ROOT, 'bench/floor-proxy.mjs'), String(floorPort), origin.url]);
  await sleep(500);
  const router = await startRouter('node', join(dir, 'router'), origins, { accessLog: false });
  const targets = [
    { name: 'nginx (original)', url: nginx.url, pid: nginx.proc.pid },
    { name: 'floor (node:http + undici)', url: `http://127.0.0.1:${floorPort}`, pid: floor.pid },
    { name: 'router (dist/node.mjs)', url: router.url, pid: router.proc.pid },
  ];
  const load = (url: string, s: number, head: boolean) =>
    runWrk({
      url: `${url}/v2/bench/static/manifests/latest`,
      host: 'static.bench',
      accept: MANIFEST_TYPE,
      seconds: s,
      connections: 32,
      threads: 2,
      headload: head ? headload : undefined,
    });
  for (const target of targets) await load(target.url, 2, false);
  const results = new Map<string, { rps: number[]; cpu: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const head of [false, true]) {
      for (const target of targets) {
        const before = cpuSeconds(target.pid);
        const r = await load(target.url, seconds, head);
        const cpu = ((cpuSeconds(target.pid) - before) * 1e6) / (r.rps * seconds);
        const key = `${target.name} ${head ? 'HEAD' : 'GET'}`;
        const entry = results.get(key) ?? { rps: [], cpu: [] };
        entry.rps.push(r.rps);
        entry.cpu.push(cpu);
        results.set(key, entry);
        if (r.errors) console.error(`${key}: errors ${r.errorText}`);
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(`| target | method | req/s (median of ${rounds}) | CPU µs/req (median) |\n| --- | --- | ---: | ---: |`);
  for (const [key, { rps, cpu }] of results) {
    const [name, method] = [key.slice(0, key.lastIndexOf(' ')), key.slice(key.lastIndexOf(' ') + 1)];
    console.log(`| ${name} | ${method} | ${Math.round(median(rps)).toLocaleString('en-US')} | ${Math.round(median(cpu))} |`);
  }
  await router.proc.stop('SIGTERM');
  await floor.stop();
  await nginx.proc.stop();
  await origin.proc.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
