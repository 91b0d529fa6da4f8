/**
 * A/B of the router's CPU per small request on one runtime: two trees (e.g. /work/main and a git
 * worktree of the commit before a change) run side by side behind the bench's manifest origin, and
 * wrk GET / headload HEAD load them in turn, A then B (B then A on even rounds), for `--rounds`
 * rounds; each row is the router's CPU µs per request (its process tree's /proc CPU time over the
 * run's requests) and req/s, then the medians per tree. Both routers stay up the whole time; the
 * idle one costs nothing.
 *
 *   npx tsx bench/ab.ts --a /work/wt-x --b /work/main [--runtime bun|node|deno] [--entry src/bun.ts]
 *       [--rounds 5] [--duration 4] [--method GET|HEAD|both]
 *
 * `--runtime` (default bun): `bun run <entry>` (default src/bun.ts); `node <entry>`, each tree's
 * bundle (default dist/node.mjs: `npm run build` in each tree first); `deno run … src/deno.ts`
 * (the tree's own deno.json turns on its unstable flags).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.ts';
import { buildHeadload, manifestLoad } from './load.ts';
import { BUN, cpuSeconds, DENO, launch, MANIFEST, ROOT, startStaticOrigin, waitFor, type Proc } from './procs.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const trees = { A: arg('--a', ROOT), B: arg('--b', ROOT) };
const runtime = arg('--runtime', 'bun');
if (!['bun', 'node', 'deno'].includes(runtime)) throw new Error(`--runtime ${runtime}: bun, node or deno`);
const entry = arg('--entry', { bun: 'src/bun.ts', node: 'dist/node.mjs', deno: 'src/deno.ts' }[runtime]!);
/** The command that starts `entry` on the runtime, config flags left out. */
const COMMANDS: Record<string, [string, string[]]> = {
  bun: [BUN, ['run', entry]],
  node: [process.execPath, [entry]],
  deno: [DENO, ['run', '--allow-net', '--allow-read', '--allow-env', entry]],
};
const rounds = Number(arg('--rounds', '5'));
const duration = Number(arg('--duration', '4'));
const method = arg('--method', 'both');
const methods = method === 'both' ? ['GET', 'HEAD'] : [method];

const dir = mkdtempSync(join(os.tmpdir(), 'rr-ab-'));
const routers: Proc[] = [];
try {
  const digest = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const origin = await startStaticOrigin(join(dir, 'static'), digest);
  const headload = buildHeadload(join(ROOT, 'bench/headload.c'), dir);
  const started: Record<string, { proc: Proc; base: string }> = {};
  for (const [name, tree] of Object.entries(trees)) {
    const port = await freePort();
    const config = join(dir, `router-${name}.json`);
    const site = { name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${origin.url}/` };
    writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, accessLog: false, sites: [site] }));
    const [command, argv] = COMMANDS[runtime]!;
    const proc = launch(command, [...argv, '--config', config], { cwd: tree, env: { ...process.env, PORT: '', NODE_ENV: 'production' } });
    routers.push(proc);
    await waitFor(proc, () => /listening on/.test(proc.stderr()), `${name} ${tree}`, 60_000);
    started[name] = { proc, base: `http://127.0.0.1:${port}` };
    await manifestLoad(started[name].base, 2); // warm-up (JIT)
  }
  const results: Record<string, { us: number; rps: number }[]> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const m of methods) {
      // A then B, then B then A next round: neither always runs right after the other's load.
      const order = round % 2 ? ['A', 'B'] : ['B', 'A'];
      for (const name of order) {
        const { proc, base } = started[name]!;
        const before = cpuSeconds(proc.pid);
        const r = await manifestLoad(base, duration, m === 'HEAD' ? headload : undefined);
        const us = ((cpuSeconds(proc.pid) - before) / r.requests) * 1e6;
        (results[`${name} ${m}`] ??= []).push({ us, rps: r.rps });
        console.log(`round ${round} ${name} ${m}: ${us.toFixed(1)} µs/req, ${r.rps.toFixed(0)} req/s${r.errors ? `, ERRORS ${r.errorText}` : ''}`);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nmedians over ${rounds} rounds (${runtime} ${entry}; A ${trees.A}, B ${trees.B}):`);
  for (const [key, rows] of Object.entries(results).sort()) {
    const each = rows.map((r) => r.us.toFixed(1)).join(' ');
    console.log(`${key}: ${median(rows.map((r) => r.us)).toFixed(1)} µs/req, ${median(rows.map((r) => r.rps)).toFixed(0)} req/s  [${each}]`);
  }
  await origin.proc.stop();
} finally {
  for (const proc of routers) await proc.stop('SIGTERM').catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
