/**
 * Blob GET A/B on Deno: one docker-registry origin with one blob, tuned nginx as the anchor, and any
 * number of Deno routers (each from its own checkout, for an A/B against an older commit in a git
 * worktree) and bare proxy scripts, taking turns round after round so that other load on the machine
 * hits all alike. Per target: MiB/s, the proxy's CPU seconds per GiB and the ratio against the
 * tuned nginx GET just before it; medians (and the best MiB/s) over the rounds.
 *
 *   npx tsx bench/deno-blob.ts [--blob-mib 1024] [--rounds 5] [--router NAME=CHECKOUT]… [--script NAME=FILE]…
 *                              [--env NAME=K=V]… [--no-nginx]
 *
 * - `--router main=/work/main`: `deno run --allow-net --allow-read --allow-env CHECKOUT/src/deno.ts`
 *   with the registry as the site of 127.0.0.1 (the bench's config, access log off); default: this checkout;
 * - `--script floor=bench/floor-deno.mjs`: `deno run -A FILE PORT ORIGIN_URL` (a bare proxy, as bench/floor.ts runs them);
 * - `--env main=DENO_V8_FLAGS=…`: an environment variable for one target only.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.ts';
import { freePort } from '../test/support/ports.ts';
import { MiB, patternBlock, pullBlob, pushBlob, repeatedDigest } from './load.ts';
import { cpuSeconds, DENO, launch, otherLoad, ROOT, sampleRss, startMethodSplitNginx, waitFor, writeRegistryConfig, type Proc } from './procs.ts';

const argv = process.argv.slice(2);
const many = (flag: string): string[] => argv.flatMap((a, i) => (a === flag && argv[i + 1] ? [argv[i + 1]!] : []));
const one = (flag: string, fallback: string): string => many(flag).at(-1) ?? fallback;
const blobMib = Number(one('--blob-mib', '1024'));
const rounds = Number(one('--rounds', '5'));
const pair = (spec: string): [string, string] => {
  const at = spec.indexOf('=');
  if (at < 1) throw new Error(`${spec}: NAME=VALUE`);
  return [spec.slice(0, at), spec.slice(at + 1)];
};
const envs = new Map<string, Record<string, string>>();
for (const [name, kv] of many('--env').map(pair)) {
  const [key, value] = pair(kv);
  envs.set(name, { ...envs.get(name), [key]: value });
}

interface Target {
  name: string;
  url: string;
  proc?: Proc;
  pid: number;
  mibs: number[];
  cpu: number[];
  ratio: number[];
  /** Peak RSS (bytes) of the target's process tree over all its GETs. */
  rss: number;
}

const median = (values: number[]): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const dir = mkdtempSync(join(os.tmpdir(), 'rr-deno-blob-'));
const registry = await startRegistry({ name: 'deno-blob', logLevel: 'error' });
const targets: Target[] = [];
try {
  const block = await patternBlock();
  const digest = repeatedDigest(block, blobMib);
  await pushBlob(registry.url, 'bench/blob', block, blobMib, digest);
  const start = async (name: string, command: string, args: string[], port: number, cwd = ROOT) => {
    const proc = launch(command, args, { cwd, env: { ...process.env, PORT: '', NODE_ENV: 'production', ...envs.get(name) } });
    await waitFor(proc, () => /listening on/.test(proc.stderr()), name, 45_000);
    targets.push({ name, url: `http://127.0.0.1:${port}`, proc, pid: proc.pid, mibs: [], cpu: [], ratio: [], rss: 0 });
  };
  const nginx = argv.includes('--no-nginx')
    ? undefined
    : await startMethodSplitNginx(join(dir, 'nginx'), { registry: registry.url, static: registry.url }, 'tuned');
  const routers = many('--router').map(pair);
  for (const [name, checkout] of routers.length ? routers : [['router', ROOT] as [string, string]]) {
    const port = await freePort();
    const config = join(dir, `router-${name}.json`);
    mkdirSync(dir, { recursive: true });
    writeRegistryConfig(config, port, registry.url);
    const script = resolve(checkout, 'src/deno.ts');
    await start(name, DENO, ['run', '--allow-net', '--allow-read', '--allow-env', script, '--config', config], port, resolve(checkout));
  }
  for (const [name, file] of many('--script').map(pair)) {
    const port = await freePort();
    await start(name, DENO, ['run', '-A', resolve(file), String(port), registry.url], port);
  }
  const anchor = nginx && { name: 'nginx (tuned)', url: nginx.url, pid: nginx.proc.pid, mibs: [] as number[], cpu: [] as number[], ratio: [], rss: 0 };
  const pull = async (target: Target): Promise<number> => {
    const before = cpuSeconds(target.pid);
    const rss = sampleRss(target.pid);
    const seconds = await pullBlob(target.url, 'bench/blob', digest, blobMib * MiB, 120).finally(() => {
      target.rss = Math.max(target.rss, rss.stop());
    });
    const cpu = cpuSeconds(target.pid) - before;
    target.mibs.push(blobMib / seconds);
    target.cpu.push(cpu / (blobMib / 1024));
    return blobMib / seconds;
  };
  // Warm-up: each target once (JIT, connection pools).
  for (const target of targets) await pull(target).catch(() => {});
  for (const target of targets) target.mibs.length = target.cpu.length = 0;
  const others = otherLoad();
  for (let round = 0; round < rounds; round++) {
    // Alternate the order each round, so neither side always follows the other.
    const order = round % 2 ? [...targets].reverse() : targets;
    const line: string[] = [];
    for (const target of order) {
      const reference = anchor ? await pull(anchor) : Number.NaN;
      const mibs = await pull(target);
      target.ratio.push(mibs / reference);
      line.push(`${target.name} ${mibs.toFixed(0)} MiB/s ${target.cpu.at(-1)!.toFixed(2)} s/GiB (${(mibs / reference).toFixed(2)}×)`);
    }
    console.log(`round ${round + 1}: ${line.join(' | ')}${anchor ? ` | nginx ${anchor.mibs.at(-1)!.toFixed(0)}` : ''}`);
  }
  const load = others.stop();
  console.log(`\n${blobMib} MiB blob GET, ${rounds} rounds, others' CPU ${(load * 100).toFixed(0)}% of both cores; medians (best MiB/s):`);
  console.log('| target | MiB/s | best | CPU s/GiB | × tuned nginx | peak RSS MiB |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const target of anchor ? [anchor, ...targets] : targets) {
    const ratio = target === anchor ? '' : `${median(target.ratio).toFixed(2)}×`;
    const cells = [
      target.name,
      median(target.mibs).toFixed(0),
      Math.max(...target.mibs).toFixed(0),
      median(target.cpu).toFixed(2),
      ratio,
      (target.rss / MiB).toFixed(0),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  await nginx?.proc.stop();
} finally {
  for (const target of targets) await target.proc?.stop();
  await registry.destroy().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
