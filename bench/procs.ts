/**
 * Processes the benchmark runs on loopback: nginx (static origin and the method-split proxy, as
 * the original recipe and tuned), the router on each runtime, and RSS sampling of a process tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/ports.ts';

export const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules/.bin');
export const BUN = join(BIN, 'bun');
export const DENO = join(BIN, 'deno');
const SETPRIV = '/usr/bin/setpriv';
export const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns with PR_SET_PDEATHSIG (setpriv execs, same pid), so nothing outlives a killed bench. */
export function launch(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
  const child = spawn(cmd, argv, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    if (out.length < 1 << 20) out += chunk;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (err.length < 1 << 20) err += chunk;
  });
  child.on('error', (error) => (err += `\nspawn error: ${error.message}`));
  const done = new Promise<void>((r) => child.once('close', () => (live.delete(child), r())));
  return {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited: () => child.exitCode !== null || child.signalCode !== null || child.pid === undefined,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Resolves once `ready()` holds; rejects with the process's stderr if it exits or times out. */
export async function waitFor(proc: Proc, ready: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (proc.exited()) throw new Error(`${what} exited (${proc.child.exitCode ?? proc.child.signalCode}): ${lastLines(proc.stderr())}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs / 1000} s: ${lastLines(proc.stderr())}`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const lastLines = (text: string, n = 6) => text.trim().split('\n').slice(-n).join(' | ') || '(no output)';

async function listening(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- nginx

export interface Nginx {
  proc: Proc;
  port: number;
  url: string;
}

async function startNginx(dir: string, conf: (port: number) => string): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  for (const sub of ['logs', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  const port = await freePort();
  // Running as root, nginx would drop its workers to nobody, who cannot enter our temp dirs.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${user}worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
${conf(port)}
}
`,
  );
  const proc = launch(NGINX, ['-p', dir, '-e', `${dir}/logs/error.log`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  await waitFor(proc, () => listening(port), `nginx (${dir})`, 10_000);
  return { proc, port, url: `http://127.0.0.1:${port}` };
}

/** A registry-style manifest with its real digest; the static origin serves it for every manifest path. */
export const MANIFEST = Buffer.from(
  JSON.stringify(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: 1469,
        digest: 'sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d',
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: 3401967,
          digest: 'sha256:c1e54eec4b5786500c19795d1fc604aa7302aee307edfe0554a5c07108b77864',
        },
      ],
    },
    null,
    3,
  ),
);
export const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

/** nginx serving MANIFEST under /v2/ with the headers a registry sends. */
export function startStaticOrigin(dir: string, digest: string): Promise<Nginx> {
  mkdirSync(join(dir, 'www'), { recursive: true });
  writeFileSync(join(dir, 'www', 'manifest.json'), MANIFEST);
  chmodSync(dir, 0o755);
  return startNginx(
    dir,
    (port) => `  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    location /v2/ {
      types { }
      default_type ${MANIFEST_TYPE};
      add_header Docker-Content-Digest "${digest}" always;
      add_header Docker-Distribution-Api-Version "registry/2.0" always;
      try_files /manifest.json =404;
    }
    location = / { return 200 "static origin\\n"; }
  }`,
  );
}

/** Which nginx the bench runs as an anchor: the recipe users run today, or the same split tuned. */
export type NginxRecipe = 'original' | 'tuned';

export const NGINX_LABEL: Record<NginxRecipe, string> = {
  original: 'nginx (original)',
  tuned: 'nginx (tuned)',
};

/**
 * The method-split proxy in front of the two origins. Two server names stand for the two origins
 * the bench uses: `static.bench` → the static manifest origin, anything else → the registry.
 *
 * - `original`: the set-up users run today (README, "From the original nginx config"): GET → group,
 *   everything else → hosted, streamed both ways, no body cap, HTTP/1.0 to the origin without
 *   keep-alive (the recipe has no `upstream` block).
 * - `tuned`: the same split with what a tuned nginx adds (issue 14): HTTP/1.1 and a pool of 64 idle
 *   keep-alive connections per worker to each origin, and answers buffered in 1 MiB buffers;
 *   uploads still stream (no request buffering, no body cap). bench/README.md says why each line.
 */
export function startMethodSplitNginx(dir: string, origins: { registry: string; static: string }, recipe: NginxRecipe = 'original'): Promise<Nginx> {
  const tuned = recipe === 'tuned';
  // The tuned recipe names its origins in upstream blocks, which is where `keepalive` lives.
  const upstream = (name: string, origin: string) => `  upstream ${name} {
    server ${new URL(origin).host};
    keepalive 64;
  }`;
  const target = (name: string, origin: string) => (tuned ? `http://${name}` : origin);
  const answers = tuned
    ? `    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering on;
    proxy_buffer_size 1m;
    proxy_buffers 4 1m;
    proxy_busy_buffers_size 2m;
    proxy_max_temp_file_size 0;`
    : `    proxy_buffering off;`;
  const server = (port: number, name: string, group: string, hosted: string) => `  server {
    listen 127.0.0.1:${port}${name === '_' ? ' default_server' : ''};
    server_name ${name};
    client_max_body_size 0;
    proxy_request_buffering off;
${answers}
    proxy_read_timeout 3600;
    proxy_send_timeout 3600;
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto http;
    location = / { return 200 "nginx\\n"; }
    location / {
      if ($request_method ~* GET) {
        proxy_pass ${group};
      }
      proxy_pass ${hosted};
    }
  }`;
  return startNginx(dir, (port) =>
    [
      ...(tuned
        ? [
            upstream('registry_group', origins.registry),
            upstream('registry_hosted', origins.registry),
            upstream('static_group', origins.static),
            upstream('static_hosted', origins.static),
          ]
        : []),
      server(port, '_', target('registry_group', origins.registry), target('registry_hosted', origins.registry)),
      server(port, 'static.bench', target('static_group', origins.static), target('static_hosted', origins.static)),
    ].join('\n'),
  );
}

// ---------------------------------------------------------------- routers

/**
 * `bun-node-http`: `bun run src/node.ts` with a PyPI site beside the docker ones, so it serves through Bun's node:http (src/node.ts).
 * `bun-native`, `bun-node-native`: the Bun entries with `"nativePipe": true` (large answers piped by Bun untouched).
 */
export const RUNTIMES = ['node', 'bun-node', 'bun-node-native', 'bun-node-http', 'bun', 'bun-native', 'deno', 'workerd'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const RUNTIME_LABEL: Record<Runtime, string> = {
  node: 'node (dist/node.mjs)',
  'bun-node': 'bun (src/node.ts)',
  'bun-node-native': 'bun (src/node.ts, nativePipe)',
  'bun-node-http': 'bun (src/node.ts, node:http: a pypi site)',
  bun: 'bun (src/bun.ts)',
  'bun-native': 'bun (src/bun.ts, nativePipe)',
  deno: 'deno (src/deno.ts)',
  workerd: 'workerd (miniflare)',
};

/** How each runtime starts the router on a config file (as test/support/router.ts does). */
const COMMANDS: Record<Runtime, { needs: string[]; argv: (config: string, extra: string[]) => string[] }> = {
  // BENCH_NODE_BUNDLE: another bundle of src/node.ts, to compare a change against dist/node.mjs.
  node: { needs: [nodeBundle()], argv: (c, extra) => [process.execPath, ...extra, nodeBundle(), '--config', c] },
  'bun-node': { needs: ['src/node.ts', BUN], argv: (c) => [BUN, 'run', 'src/node.ts', '--config', c] },
  'bun-node-native': { needs: ['src/node.ts', BUN], argv: (c) => [BUN, 'run', 'src/node.ts', '--config', c] },
  'bun-node-http': { needs: ['src/node.ts', BUN], argv: (c) => [BUN, 'run', 'src/node.ts', '--config', c] },
  bun: { needs: ['src/bun.ts', BUN], argv: (c) => [BUN, 'run', 'src/bun.ts', '--config', c] },
  'bun-native': { needs: ['src/bun.ts', BUN], argv: (c) => [BUN, 'run', 'src/bun.ts', '--config', c] },
  deno: { needs: ['src/deno.ts', DENO], argv: (c) => [DENO, 'run', '--allow-net', '--allow-read', '--allow-env', 'src/deno.ts', '--config', c] },
  workerd: {
    needs: ['src/worker.ts', 'test/support/miniflare-server.ts'],
    argv: (c) => [process.execPath, '--import', 'tsx', 'test/support/miniflare-server.ts', '--config', c],
  },
};

function nodeBundle(): string {
  return process.env.BENCH_NODE_BUNDLE || 'dist/node.mjs';
}

export interface Router {
  runtime: Runtime;
  proc: Proc;
  port: number;
  url: string;
}

/**
 * Writes, at `path`, a router config with one docker site for `registry` (a URL), answering
 * 127.0.0.1 on `port`, access log off: the router of the A/B scripts (rss-trace, deno-blob).
 */
export function writeRegistryConfig(path: string, port: number, registry: string): void {
  const site = { name: 'registry', hosts: ['127.0.0.1'], preset: 'docker', upstream: `${registry}/` };
  writeFileSync(path, JSON.stringify({ listen: { host: '127.0.0.1', port }, accessLog: false, sites: [site] }));
}

export async function startRouter(
  runtime: Runtime,
  dir: string,
  origins: { registry: string; static: string },
  opts: { accessLog: boolean; nodeArgs?: string[] },
): Promise<Router> {
  const spec = COMMANDS[runtime];
  for (const need of spec.needs) if (!existsSync(resolve(ROOT, need))) throw new Error(`${need} does not exist`);
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, `router-${runtime}.json`);
  writeFileSync(
    config,
    JSON.stringify(
      {
        listen: { host: '127.0.0.1', port },
        accessLog: opts.accessLog,
        ...((runtime === 'bun-native' || runtime === 'bun-node-native') && { nativePipe: true }),
        sites: [
          { name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: `${origins.static}/` },
          { name: 'registry', hosts: ['127.0.0.1'], preset: 'docker', upstream: `${origins.registry}/` },
          // Only there to make `bun run src/node.ts` choose node:http (its clients show reason phrases).
          ...(runtime === 'bun-node-http' ? [{ name: 'pypi', hosts: ['pypi.bench'], preset: 'pypi', upstream: `${origins.static}/` }] : []),
        ],
      },
      null,
      2,
    ),
  );
  const [command, ...args] = spec.argv(config, opts.nodeArgs ?? []);
  const proc = launch(command!, args, { env: { ...process.env, PORT: '', NODE_ENV: 'production' } });
  await waitFor(proc, () => /listening on/.test(proc.stderr()), `${runtime} router`, 45_000);
  return { runtime, proc, port, url: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------- memory

/** pid and all its descendants (miniflare: node + workerd; nginx: master + workers). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

export function rssOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      /* exited */
    }
  }
  return total;
}

/** Samples the summed VmRSS of a process tree every `everyMs`; `stop()` gives the peak in bytes. */
export function sampleRss(root: number, everyMs = 100): { stop(): number } {
  const pids = processTree(root);
  let peak = rssOf(pids);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pids));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssOf(pids));
    },
  };
}

// ---------------------------------------------------------------- other load on the machine

const CLK_TCK = 100; // USER_HZ: /proc times are in 1/100 s on Linux

/** Busy CPU time of the whole machine (all cores), in ticks. */
function machineBusy(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return user + nice + system + irq + softirq + steal;
}

/** CPU time of this process and every descendant, living or reaped (cutime/cstime), in ticks. */
function ourBusy(): number {
  let total = 0;
  for (const pid of processTree(process.pid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields 14..17 of stat (utime stime cutime cstime) are 11..14 after the command
      total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/**
 * How much of the machine other work used meanwhile (other engineers' test suites, …), as a share
 * of all cores: `stop()` → 0.0–1.0. Only an indicator (a child reaped mid-way may be counted late).
 */
export function otherLoad(): { stop(): number } {
  const wall = performance.now();
  const busy = machineBusy();
  const ours = ourBusy();
  return {
    stop() {
      const seconds = (performance.now() - wall) / 1000;
      const capacity = seconds * CLK_TCK * (os.availableParallelism?.() ?? os.cpus().length);
      const foreign = machineBusy() - busy - (ourBusy() - ours);
      return capacity > 0 ? Math.min(1, Math.max(0, foreign / capacity)) : 0;
    },
  };
}

/** CPU time (user + system) of a process tree so far, in seconds (children it reaped included). */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* exited meanwhile */
    }
  }
  return ticks / CLK_TCK;
}
