/**
 * A local demo of the router, no Nexus needed: two CNCF Distribution registries (`docker-registry`,
 * Debian package `docker-registry`) laid out as Nexus's docker repositories, and the router in
 * front with its admin listener and status page.
 *
 *   hosted  127.0.0.1:8083  a plain registry: pushes land here
 *   group   127.0.0.1:8082  a pull-through cache of hosted (read-only, like a Nexus group)
 *   router  127.0.0.1:8080  reads → group, writes → hosted
 *   admin   127.0.0.1:9090  status page, /status.json, /metrics, /healthz, /readyz
 *
 * A port given on the command line that is busy stops the demo with a message naming the flag; a
 * default one that is busy is replaced by a free one, said at the top of the banner. It also writes
 * a tiny OCI image layout, so the printed `skopeo copy` works offline. Ctrl-C / SIGTERM stops
 * everything and removes the temporary folder.
 *
 *   registry-router demo [--port 8080] [--admin-port 9090] [--group-port 8082] [--hosted-port 8083] [--quiet]
 *   (npm run demo -- …)
 *
 * Node only (child processes, node:http servers): the command line loads it when `demo` runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AccessEntry } from './access-log.ts';
import { nodeClient } from './adapter/node/client.ts';
import { createApp } from './app.ts';
import { parseConfig } from './config/load.ts';
import type { HealthEvent } from './upstream/pool.ts';

const HOST = '127.0.0.1';
const SETPRIV = '/usr/bin/setpriv';

const children = new Set<ChildProcess>();
const servers: Server[] = [];
let work = '';
let stopApp = () => {};
let stopping = false;
let registryBin: string | undefined;

export interface DemoOptions {
  port: number;
  adminPort: number;
  groupPort: number;
  hostedPort: number;
  /** The ports the user gave (option names as typed: `port`, `admin-port`, …): busy ones are an error, not replaced. */
  given: ReadonlySet<string>;
  quiet?: boolean | undefined;
}

/** Starts the demo; it runs until SIGINT/SIGTERM (or a start-up failure), then exits the process. */
export async function runDemo(options: DemoOptions): Promise<void> {
  registryBin = findRegistry();
  if (!registryBin) {
    const where = process.env.DOCKER_REGISTRY_BIN ? ` (DOCKER_REGISTRY_BIN=${process.env.DOCKER_REGISTRY_BIN} is not executable)` : '';
    console.error(
      `demo: docker-registry is missing${where}. It is CNCF Distribution, in Debian's package docker-registry:\n  sudo apt-get install docker-registry`,
    );
    process.exit(1);
  }
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await main(options).catch((error: unknown) => {
    console.error(`demo: ${(error as Error).message}`);
    void shutdown('error', 1);
  });
}

async function main(options: DemoOptions): Promise<void> {
  const { quiet, given } = options;
  const wanted: PortWish[] = [
    { flag: 'port', what: 'the router', port: options.port },
    { flag: 'admin-port', what: 'the status page', port: options.adminPort },
    { flag: 'group-port', what: 'the group registry', port: options.groupPort },
    { flag: 'hosted-port', what: 'the hosted registry', port: options.hostedPort },
  ].map((wish) => ({ ...wish, given: given.has(wish.flag) }));
  const { chosen, moved } = await ports(wanted);
  const [routerPort, adminPort, groupPort, hostedPort] = chosen;
  work = await mkdtemp(join(tmpdir(), 'rr-demo-'));

  const hosted = await startRegistry('hosted', hostedPort!);
  const group = await startRegistry('group', groupPort!, hosted);

  const config = parseConfig({
    listen: { host: HOST, port: routerPort },
    admin: { host: HOST, port: adminPort },
    sites: [
      {
        name: 'docker',
        hosts: [HOST, 'localhost'],
        preset: 'docker',
        upstreams: { read: group, write: hosted },
        // One server per role: nothing to fail over to, but the status page shows their health.
        health: { checks: true, interval: 2, timeout: 1, backoff: 2 },
      },
    ],
  });
  // The demo's own readiness request is not the user's: the log starts with the banner.
  let logging = false;
  const app = createApp(config, {
    // The Node adapter's own client: what `serve` uses on Node and under Bun (the single executable).
    client: nodeClient(config.timeouts),
    log: quiet ? () => {} : (entry) => logging && accessLine(entry),
    healthLog: healthLine,
    clientAddress: (c) => getConnInfo(c).remote.address,
  });
  stopApp = () => app.stop();
  await listen(app.fetch, routerPort!);
  await listen(app.admin.fetch, adminPort!);

  const image = await writeImage(join(work, 'image'));
  const router = `${HOST}:${routerPort}`;
  const ping = await fetch(`http://${router}/v2/`);
  await ping.arrayBuffer();
  const lines = [
    '',
    ...moved.map((line) => `NOTE: ${line}`),
    'registry-router demo',
    `  hosted registry   http://${HOST}:${hostedPort}   (pushes land here)`,
    `  group registry    http://${HOST}:${groupPort}   (pull-through cache of hosted)`,
    `  router            http://${router}   reads → group, writes → hosted   (GET /v2/ → ${ping.status})`,
    `  status page       http://${HOST}:${adminPort}/   (JSON: /status.json; also /metrics, /readyz)`,
    '',
    'Push and pull through the router (plain HTTP: skopeo falls back to it with --*-tls-verify=false):',
    `  skopeo copy --dest-tls-verify=false ${image} docker://${router}/demo/hello:1.0`,
    `  skopeo inspect --tls-verify=false docker://${router}/demo/hello:1.0`,
    `  skopeo copy --src-tls-verify=false docker://${router}/demo/hello:1.0 oci:${join(work, 'pulled')}:1.0`,
    `  curl -s http://${router}/v2/_catalog; curl -s http://${router}/v2/demo/hello/tags/list`,
    '',
    'With docker (it speaks plain HTTP to localhost without further set-up):',
    `  docker pull busybox && docker tag busybox localhost:${routerPort}/demo/busybox:1`,
    `  docker push localhost:${routerPort}/demo/busybox:1`,
    `  docker pull localhost:${routerPort}/demo/busybox:1`,
    '',
    `Stop a registry to watch the status page: kill ${[...children].map((c) => c.pid).join(' or ')}. Ctrl-C stops everything.`,
    '',
  ];
  console.log(lines.join('\n'));
  logging = true;
}

/** `docker-registry`: $DOCKER_REGISTRY_BIN when set, else /usr/bin's or the first on $PATH. */
function findRegistry(): string | undefined {
  const env = process.env.DOCKER_REGISTRY_BIN;
  const candidates = env ? [env] : ['/usr/bin/docker-registry', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'docker-registry'))];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

interface PortWish {
  flag: string;
  what: string;
  port: number;
  given: boolean;
}

/**
 * Each wanted port if it is free on loopback (0: any free one). A busy port the user gave is an
 * error naming its flag; a busy default is replaced by a free one, with a line saying so.
 */
async function ports(wanted: PortWish[]): Promise<{ chosen: number[]; moved: string[] }> {
  const taken = new Set<number>();
  const chosen: number[] = [];
  const moved: string[] = [];
  for (const wish of wanted) {
    const clash = wish.port > 0 && taken.has(wish.port);
    let got = wish.port > 0 && !clash ? await probe(wish.port) : wish.port === 0 ? await probe(0) : undefined;
    if (got === undefined && wish.given) {
      const why = clash ? "is already taken by another of the demo's ports" : 'is in use on 127.0.0.1 by another program';
      throw new Error(`port ${wish.port} (--${wish.flag}, ${wish.what}) ${why}: give another --${wish.flag} (0: any free port)`);
    }
    while (got === undefined || taken.has(got)) got = await probe(0);
    if (wish.port > 0 && got !== wish.port) moved.push(`port ${wish.port} is busy: ${wish.what} listens on ${got} instead (--${wish.flag} N to choose)`);
    taken.add(got);
    chosen.push(got);
  }
  return { chosen, moved };
}

function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: HOST, port, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}

/** A Distribution registry on loopback; `remote`: a pull-through cache of it (read-only, as a Nexus group). */
async function startRegistry(name: string, port: number, remote?: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'data'), { recursive: true });
  const config = {
    version: '0.1',
    log: { level: 'warn', formatter: 'text', accesslog: { disabled: true }, fields: { service: `demo-${name}` } },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true }, redirect: { disable: true } },
    http: { addr: `${HOST}:${port}`, secret: `demo-secret-${name}` },
    ...(remote && { proxy: { remoteurl: remote } }),
  };
  const configFile = join(dir, 'config.yml');
  // JSON is YAML.
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const log = await open(join(dir, 'registry.log'), 'a');
  // setpriv: the registry dies with the demo even if the demo is killed hard.
  const [command, argv] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', registryBin!, 'serve', configFile]]
    : [registryBin!, ['serve', configFile]];
  const child = spawn(command, argv, { cwd: dir, stdio: ['ignore', log.fd, log.fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
  await log.close();
  children.add(child);
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (!stopping) console.error(`demo: the ${name} registry (pid ${child.pid}) exited (${signal ?? code}); log: ${join(dir, 'registry.log')}`);
  });
  const url = `http://${HOST}:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the ${name} registry exited at start; see ${join(dir, 'registry.log')}`);
    const ok = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) }).then(
      async (res) => {
        await res.arrayBuffer();
        return res.status === 200;
      },
      () => false,
    );
    if (ok) return url;
    if (Date.now() > deadline) throw new Error(`the ${name} registry did not answer on ${url} within 15 s; see ${join(dir, 'registry.log')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function listen(fetch: (request: Request, env: unknown) => Response | Promise<Response>, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: HOST, port }, () => resolve()) as Server;
    server.once('error', reject);
    servers.push(server);
  });
}

function accessLine(entry: AccessEntry): void {
  const size = entry.bytesIn || entry.bytesOut ? ` in ${entry.bytesIn} out ${entry.bytesOut} B` : '';
  const where = entry.upstream ? ` → ${entry.role} ${entry.upstream}` : entry.role ? ` (${entry.role})` : '';
  console.log(
    `${entry.time.slice(11, 19)} ${entry.method} ${entry.path} ${entry.status}${where}${size} ${entry.durationMs} ms${entry.error ? ` [${entry.error}]` : ''}`,
  );
}

function healthLine(event: HealthEvent): void {
  const state = event.event === 'upstream_down' ? 'DOWN' : event.event === 'upstream_unknown' ? 'UNKNOWN' : 'UP';
  console.error(`${event.time.slice(11, 19)} ${state.padEnd(7)} ${event.upstream} (${event.via}: ${event.reason})`);
}

/**
 * A one-layer OCI image (`hello.txt`) as an image layout under `dir`, tag 1.0: what `skopeo copy
 * oci:DIR:1.0 …` reads. Returns that source reference.
 */
async function writeImage(dir: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array, mediaType: string) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(blobs, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.byteLength };
  };
  const tar = ustar('hello.txt', 'hello through registry-router\n');
  const layer = await put(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const imageConfig = { architecture: 'amd64', os: 'linux', config: { Cmd: ['cat', '/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [diffId] } };
  const configBlob = await put(Buffer.from(JSON.stringify(imageConfig)), 'application/vnd.oci.image.config.v1+json');
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configBlob, layers: [layer] };
  const manifestBlob = await put(Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': '1.0' } }] }),
  );
  return `oci:${dir}:1.0`;
}

/** A tar archive holding one regular file (ustar, fixed owner, mode and time). */
function ustar(name: string, content: string): Buffer {
  const body = Buffer.from(content);
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(body.length, 12));
  field(136, 12, octal(0, 12));
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding, Buffer.alloc(1024)]);
}

async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`\ndemo: ${signal}, stopping the router and the registries`);
  stopApp();
  const grace = setTimeout(() => servers.forEach((server) => server.closeAllConnections()), 2000);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  clearTimeout(grace);
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  if (work) await rm(work, { recursive: true, force: true });
  process.exit(code);
}
