/**
 * Runs src/worker.ts in workerd (through miniflare) on a real port, the way the other runtimes
 * run their adapter: `node --import tsx test/support/miniflare-server.ts --config router.json`.
 *
 * - bundles the worker with esbuild (as wrangler does) into a temp dir;
 * - takes compatibility_date/flags and minify from wrangler.toml, so tests run what `wrangler deploy` ships;
 * - passes the config file's text as the ROUTER_CONFIG binding and listens on its `listen` address
 *   (the worker itself ignores `listen`);
 * - sends one warm-up request so a config the worker refuses fails here, not on the first test;
 * - prints the same "listening on" line on stderr;
 * - SIGTERM/SIGINT go to workerd itself, which drains requests in flight before exiting
 *   (miniflare's own dispose() would SIGKILL it).
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, stop as stopEsbuild } from 'esbuild';
import { Miniflare } from 'miniflare';

const ROOT = resolve(import.meta.dirname, '../..');

const flag = process.argv.indexOf('--config');
const configPath = flag >= 0 ? process.argv[flag + 1] : undefined;
if (!configPath) {
  console.error('usage: miniflare-server.ts --config router.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8')) as { listen?: unknown; accessLog?: boolean; timeouts?: { shutdownGrace?: number } };
// The worker ignores `listen`; here its first entry is where workerd listens (wrangler dev: --port).
const listen = { host: '127.0.0.1', port: 8787, ...([config.listen].flat()[0] as { host?: string; port?: number } | undefined) };
// As the other adapters do with --quiet (configFromArgs).
const configText = JSON.stringify(process.argv.includes('--quiet') ? { ...config, accessLog: false } : config);

const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
const compatibilityFlags = [...(/^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]!);

const outdir = mkdtempSync(join(tmpdir(), 'router-worker-'));
await build({
  entryPoints: [join(ROOT, 'src/worker.ts')],
  outfile: join(outdir, 'worker.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  conditions: ['workerd', 'worker', 'browser'],
  // wrangler bundles for esbuild's default platform, which reads `module` then `main` (jsonc-parser has no `exports`).
  mainFields: ['module', 'main'],
  minify: /^minify\s*=\s*true/m.test(toml),
  logLevel: 'error',
});
await stopEsbuild();

const mf = new Miniflare({
  modules: true,
  scriptPath: join(outdir, 'worker.js'),
  modulesRoot: outdir,
  compatibilityDate,
  compatibilityFlags,
  // Secrets the config names (direct uploads' keyEnv) come from this process's environment, as `wrangler secret put` would set them.
  bindings: { ROUTER_CONFIG: configText, ...secretBindings(config) },
  // As wrangler.toml binds it: push sessions in a Durable Object (src/edge/session-object.ts).
  durableObjects: { PUSH_SESSIONS: 'PushSessionObject' },
  host: listen.host,
  port: listen.port,
});
const url = await mf.ready;

// miniflare installs exit hooks that SIGKILL workerd on SIGTERM/SIGINT; ours drains instead.
process.removeAllListeners('SIGTERM');
process.removeAllListeners('SIGINT');

const probe = await fetch(new URL('/.registry-router-config-check', url));
if (probe.status === 500) {
  console.error(await probe.text());
  await mf.dispose();
  process.exit(2);
}
await probe.arrayBuffer();

console.error(`registry-router listening on http://${listen.host}:${url.port} (workerd via miniflare, ${configPath})`);

/** workerd runs as miniflare's child process. */
function workerdPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function shutdown(signal: NodeJS.Signals): void {
  const pids = workerdPids();
  for (const pid of pids) process.kill(pid, signal);
  const gone = () =>
    pids.every((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  const finish = async (code: number) => {
    await mf.dispose().catch(() => {});
    rmSync(outdir, { recursive: true, force: true });
    process.exit(code);
  };
  const timer = setInterval(() => {
    if (!gone()) return;
    clearInterval(timer);
    void finish(0);
  }, 50);
  setTimeout(() => void finish(0), (config.timeouts?.shutdownGrace ?? 30) * 1000).unref();
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

/** The environment variables the config's sites name as keys (`directUploads.keyEnv`), as worker bindings. */
function secretBindings(routerConfig: unknown): Record<string, string> {
  const sites = (routerConfig as { sites?: Array<{ directUploads?: { keyEnv?: string } }> }).sites ?? [];
  const names = sites.filter((site) => site.directUploads).map((site) => site.directUploads!.keyEnv ?? 'UPLOAD_KEY');
  return Object.fromEntries(names.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]!]));
}
