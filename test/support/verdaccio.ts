/**
 * Real verdaccio 6.8 registries laid out as Nexus lays out npm repositories, for end-to-end tests,
 * and a hermetic runner for the real npm CLI.
 *
 * - **hosted**: htpasswd auth (new users may register), publish/unpublish for authenticated users,
 *   no uplinks (a Nexus *hosted* npm repository).
 * - **group**: the same htpasswd file and the same token secret (one Nexus realm across
 *   repositories), `proxy: hosted` on every package, publish/unpublish for nobody, registration off
 *   (`max_users: -1`): it answers reads of what hosted has (a Nexus *group*). Its uplink re-reads
 *   hosted's packument on every request (`maxage: 0`), so what was just published is seen at once.
 *
 * Both serve at the root of their origin, or, with `prefixes`, under a path as Nexus serves its
 * repositories (`/repository/npm-hosted/`): the logging proxy then strips the prefix, and verdaccio
 * writes it into its URLs (`url_prefix`), so `dist.tarball` looks like Nexus's.
 *
 * Each verdaccio runs as a child process (`node node_modules/verdaccio/bin/verdaccio -c CONFIG -l
 * 127.0.0.1:PORT`, killed with us through `setpriv --pdeathsig`) with its own temp storage and
 * config. Clients never talk to it directly: each instance has a small logging proxy in this
 * process in front of it (`registryUrl`), which passes everything through untouched (Host included, so
 * verdaccio builds its URLs from what the client asked for) and appends one entry per request to a
 * shared `RequestLog`: instance, method, URL, the headers that tell who sent it and why, status.
 * The group's uplink points at hosted's logging proxy, so group→hosted fetches are logged too
 * (`source: 'uplink'`).
 *
 * Findings (verdaccio 6.8.0, Node 20):
 * - The token secret lives in `<storage>/.verdaccio-db.json` (`{ "list": [...], "secret": "…" }`);
 *   it is generated on first start unless one is there. A 32-character secret written before the
 *   first start is kept as is, so two instances given the same one accept each other's tokens.
 *   The default API tokens are "legacy" AES tokens that wrap `user:password`: the instance that
 *   receives one decrypts it with the secret and authenticates the pair against its htpasswd file
 *   (re-read on every check), hence the shared file as well.
 * - `dist.tarball` URLs in packuments are rebuilt on every answer from the request: `<proto>://<Host
 *   header><url_prefix><name>/-/<file>`, proto from `X-Forwarded-Proto` (or the header named by
 *   `VERDACCIO_FORWARDED_PROTO`), else the socket's. `X-Forwarded-Host`/`-Port` are ignored;
 *   `VERDACCIO_PUBLIC_URL` overrides everything (not set here). Scoped names appear unencoded:
 *   `http://host/@scope/name/-/name-1.0.0.tgz`.
 * - Audit: verdaccio's bundled `verdaccio-audit` middleware answers `/-/npm/v1/security/{audits,
 *   audits/quick,advisories/bulk}` by re-sending the request to https://registry.npmjs.org (fixed,
 *   not configurable; 60 s timeout); when that fails it answers 500, when disabled it answers 500
 *   at once. npm 11 takes a failed audit quietly: `npm install` neither retries the POST nor fails
 *   (checked against a group answering 500: the install completes, no audit summary). Tests must not
 *   reach the public registry, so neither instance loads it: the group loads a local middleware
 *   plugin (`verdaccio-local-audit`, written into its `plugins` folder) that answers those POSTs
 *   with "no advisories" (`{}` for bulk, an empty report for quick/full), so an install through the
 *   group prints "found 0 vulnerabilities". hosted answers them 404 (express's "Cannot POST").
 * - Web login (`POST /-/v1/login`) is not in verdaccio 6.8: 404, after which npm falls back to
 *   the couch flow (`PUT /-/user/org.couchdb.user:<name>`, which registers or logs in).
 * - npm prompts (login, adduser) each read stdin through a fresh readline: input written up front
 *   is swallowed by the first, and npm dies with "Exit handler never called!". `runNpm` therefore
 *   answers prompt by prompt (`answers`), which works without a TTY.
 * - The uplink identifies itself with `User-Agent: npm (verdaccio/6.8.0)` and a `Via` header.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { HEALTH_CHECK_AGENT } from './origin.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const VERDACCIO_BIN = path.join(ROOT, 'node_modules/verdaccio/bin/verdaccio');
const SETPRIV = '/usr/bin/setpriv';

export type InstanceName = 'hosted' | 'group';

/** One request as the logging proxy in front of an instance saw it. */
export interface LoggedRequest {
  /** Arrival order across every instance of one `RequestLog`. */
  seq: number;
  instance: InstanceName;
  method: string;
  /** The request target as verdaccio got it (path and query, percent-encoding kept; the instance's path prefix removed). */
  url: string;
  path: string;
  /** Without the `?`; '' when none. */
  query: string;
  /** Who sent it: the router (X-Forwarded-For), the group's uplink (Via), or a client directly. */
  source: 'router' | 'uplink' | 'direct';
  headers: {
    host?: string;
    accept?: string;
    'content-type'?: string;
    'content-encoding'?: string;
    'content-length'?: string;
    'npm-command'?: string;
    'npm-auth-type'?: string;
    referer?: string;
    'user-agent'?: string;
    'x-forwarded-host'?: string;
    'x-forwarded-proto'?: string;
    /** Which scheme the Authorization header used (`Bearer`, `Basic`), never its value. */
    authorization?: string;
  };
  /** Answer status; undefined while pending or when the connection broke. */
  status?: number;
  /** Asked outside the instance's path prefix (answered 404 by the logging proxy; `url` is the raw target). */
  outsidePrefix?: boolean;
}

const KEPT_HEADERS = [
  'host',
  'accept',
  'content-type',
  'content-encoding',
  'content-length',
  'npm-command',
  'npm-auth-type',
  'referer',
  'user-agent',
  'x-forwarded-host',
  'x-forwarded-proto',
] as const;

/** The requests of every instance of a pair, in arrival order. */
export class RequestLog {
  readonly entries: LoggedRequest[] = [];
  private seq = 0;

  add(entry: Omit<LoggedRequest, 'seq'>): LoggedRequest {
    const logged = { seq: this.seq++, ...entry };
    this.entries.push(logged);
    return logged;
  }

  /** A position to read from later with `since`. */
  mark(): number {
    return this.seq;
  }

  since(mark: number, filter: (entry: LoggedRequest) => boolean = () => true): LoggedRequest[] {
    return this.entries.filter((entry) => entry.seq >= mark && filter(entry));
  }

  /** `group GET /foo -> 200` lines, for failure messages and captures. */
  static format(entries: readonly LoggedRequest[]): string {
    return entries
      .map(
        (e) =>
          `${e.instance.padEnd(6)} ${e.source.padEnd(6)} ${e.method} ${e.url} ` +
          `-> ${e.status ?? '-'}${e.headers['npm-command'] ? ` [npm ${e.headers['npm-command']}]` : ''}`,
      )
      .join('\n');
  }
}

export interface Verdaccio {
  name: InstanceName;
  /** The logging proxy's origin: http://127.0.0.1:PORT, no trailing slash. */
  url: string;
  /** The registry URL clients (and the router) use: `url` + the path prefix, with a trailing slash. */
  registryUrl: string;
  /** Path prefix the instance is served under (Nexus: `/repository/<repo>`), '' for none. */
  prefix: string;
  port: number;
  /** verdaccio's own listener (bypasses the log). */
  directUrl: string;
  dir: string;
  storageDir: string;
  configFile: string;
  /** verdaccio's stdout+stderr (JSON lines at level http). */
  logFile: string;
  /** What this instance was asked, through its logging proxy. */
  requests(): LoggedRequest[];
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface NpmRegistries {
  hosted: Verdaccio;
  group: Verdaccio;
  log: RequestLog;
  /** Shared by both instances. */
  htpasswdFile: string;
  secret: string;
  dir: string;
  /** Stops both instances and their proxies and removes their folders. */
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

function killAndWait(child: ChildProcess, graceMs = 3000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A verdaccio middleware plugin answering npm's audit endpoints locally with "no advisories", in
 * place of `verdaccio-audit` (which forwards them to the public registry).
 */
const LOCAL_AUDIT_PLUGIN = `'use strict';
// Answers npm audit requests locally: no advisories for anything.
module.exports = function localAudit() {
  return {
    register_middlewares(app) {
      const readBody = (req) => new Promise((resolve) => {
        let n = 0;
        req.on('data', (c) => (n += c.length));
        req.on('end', () => resolve(n));
        req.on('error', () => resolve(n));
      });
      const report = {
        actions: [],
        advisories: {},
        muted: [],
        metadata: {
          vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0 },
          dependencies: 0, devDependencies: 0, optionalDependencies: 0, totalDependencies: 0,
        },
      };
      app.post('/-/npm/v1/security/advisories/bulk', async (req, res) => { await readBody(req); res.status(200).json({}); });
      app.post('/-/npm/v1/security/audits/quick', async (req, res) => { await readBody(req); res.status(200).json(report); });
      app.post('/-/npm/v1/security/audits', async (req, res) => { await readBody(req); res.status(200).json(report); });
    },
  };
};
`;

interface InstanceOptions {
  name: InstanceName;
  log: RequestLog;
  htpasswdFile: string;
  secret: string;
  /** The group's uplink (hosted's registry URL). */
  uplink?: string;
  /** See `NpmRegistryOptions.prefixes`. */
  prefix: string;
}

function buildConfig(o: InstanceOptions, dir: string): Record<string, unknown> {
  const isGroup = o.uplink !== undefined;
  const access = isGroup
    ? // `nobody` is no user's group: nobody may publish or unpublish through the group.
      { access: '$all', publish: 'nobody', unpublish: 'nobody', proxy: 'hosted' }
    : { access: '$all', publish: '$authenticated', unpublish: '$authenticated' };
  return {
    storage: path.join(dir, 'storage'),
    plugins: path.join(dir, 'plugins'),
    auth: {
      htpasswd: {
        file: o.htpasswdFile,
        // hosted takes `npm adduser`; the group never registers anyone (-1: "maximum reached").
        max_users: isGroup ? -1 : 1000,
        // Legacy tokens are checked against the file on every request: keep bcrypt cheap.
        rounds: 4,
      },
    },
    // URLs verdaccio builds (dist.tarball) carry the prefix, as Nexus's do.
    ...(o.prefix ? { url_prefix: `${o.prefix}/` } : {}),
    uplinks: isGroup ? { hosted: { url: o.uplink, maxage: 0, cache: true, timeout: '30s', max_fails: 100, fail_timeout: '1s' } } : {},
    packages: { '@*/*': access, '**': access },
    security: { api: { legacy: true } },
    middlewares: isGroup ? { 'local-audit': { enabled: true } } : {},
    max_body_size: '200mb',
    web: { enable: false },
    log: { type: 'stdout', format: 'json', level: 'http' },
    server: { keepAliveTimeout: 60 },
  };
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<'ok' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return 'exited';
    try {
      const res = await fetch(`${url}/-/ping`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return 'ok';
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return 'timeout';
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A pass-through HTTP proxy that logs each request into `log` under `instance`. With a `prefix`
 * (`/repository/npm-hosted`), it serves only what is under it, and strips it before passing on
 * (verdaccio serves at its root and builds its URLs with `url_prefix`): a Nexus-like path layout.
 */
async function startLoggingProxy(instance: InstanceName, log: RequestLog, targetPort: () => number, prefix: string): Promise<http.Server> {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const raw = req.url ?? '/';
    // The router's background health checks (on by default) are not requests a client caused: passed on, not logged.
    if (req.headers['user-agent'] === HEALTH_CHECK_AGENT) {
      const check = http.request(
        {
          host: '127.0.0.1',
          port: targetPort(),
          method: req.method,
          path: raw.slice(raw.startsWith(`${prefix}/`) ? prefix.length : 0) || '/',
          headers: req.headers,
          agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      check.on('error', () => res.destroy());
      req.pipe(check);
      return;
    }
    // Via first: verdaccio's uplink adds X-Forwarded-For too.
    const source: LoggedRequest['source'] = req.headers.via ? 'uplink' : req.headers['x-forwarded-for'] ? 'router' : 'direct';
    if (prefix && !raw.startsWith(`${prefix}/`)) {
      log.add({
        instance,
        method: req.method ?? 'GET',
        url: raw,
        path: raw.split('?')[0]!,
        query: raw.split('?')[1] ?? '',
        source,
        headers: {},
        status: 404,
        outsidePrefix: true,
      });
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `not under ${prefix}/` }));
      req.resume();
      return;
    }
    const url = raw.slice(prefix.length);
    const q = url.indexOf('?');
    const headers: LoggedRequest['headers'] = {};
    for (const name of KEPT_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    if (req.headers.authorization) headers.authorization = req.headers.authorization.split(' ')[0];
    const entry = log.add({
      instance,
      method: req.method ?? 'GET',
      url,
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      source,
      headers,
    });
    const upstream = http.request({ host: '127.0.0.1', port: targetPort(), method: req.method, path: url, headers: req.headers, agent }, (answer) => {
      entry.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `logging proxy: ${error.message}` }));
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
    req.on('error', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

async function startInstance(o: InstanceOptions): Promise<Verdaccio> {
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), `rr-verdaccio-${o.name}-`));
  const storageDir = path.join(dir, 'storage');
  const configFile = path.join(dir, 'config.yaml');
  const logFile = path.join(dir, 'verdaccio.log');
  await mkdir(storageDir, { recursive: true });
  // The token secret, shared by both instances (verdaccio keeps a 32-character one as it is).
  await writeFile(path.join(storageDir, '.verdaccio-db.json'), JSON.stringify({ list: [], secret: o.secret }));
  await mkdir(path.join(dir, 'plugins', 'verdaccio-local-audit'), { recursive: true });
  await writeFile(path.join(dir, 'plugins', 'verdaccio-local-audit', 'index.js'), LOCAL_AUDIT_PLUGIN);
  // JSON is YAML.
  await writeFile(configFile, JSON.stringify(buildConfig(o, dir), null, 2) + '\n');

  let port = 0;
  const proxy = await startLoggingProxy(o.name, o.log, () => port, o.prefix);
  const proxyPort = (proxy.address() as AddressInfo).port;

  let child: ChildProcess | undefined;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const fh = await open(logFile, 'a');
    const argv = [VERDACCIO_BIN, '-c', configFile, '-l', `127.0.0.1:${port}`];
    const [cmd, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...argv]] : [process.execPath, argv];
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NODE_ENV: 'production' };
    const proc = spawn(cmd, args, { cwd: dir, stdio: ['ignore', fh.fd, fh.fd], env });
    await fh.close();
    live.add(proc);
    const ready = await waitReady(`http://127.0.0.1:${port}`, proc, 30_000);
    if (ready === 'ok') {
      child = proc;
      proc.once('exit', () => live.delete(proc));
      break;
    }
    await killAndWait(proc);
    const logText = await tail(logFile);
    if (attempt < 4 && /EADDRINUSE/.test(logText)) continue;
    proxy.close();
    proxy.closeAllConnections();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`verdaccio ${o.name} did not start (${ready}) on 127.0.0.1:${port}; config ${configFile}; log tail:\n${logText}`);
  }

  let stopped = false;
  return {
    name: o.name,
    url: `http://127.0.0.1:${proxyPort}`,
    registryUrl: `http://127.0.0.1:${proxyPort}${o.prefix}/`,
    prefix: o.prefix,
    port: proxyPort,
    directUrl: `http://127.0.0.1:${port}`,
    dir,
    storageDir,
    configFile,
    logFile,
    requests: () => o.log.entries.filter((entry) => entry.instance === o.name),
    logTail: (lines?: number) => tail(logFile, lines),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await killAndWait(child);
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

export interface NpmRegistryOptions {
  /**
   * Serve each instance under a path, as Nexus does (`{ hosted: '/repository/npm-hosted', group:
   * '/repository/npm-group' }`): clients use `registryUrl`, and `dist.tarball` URLs carry the prefix.
   * Default: both at the root.
   */
  prefixes?: { hosted: string; group: string };
}

/**
 * hosted and group, sharing one htpasswd file and one token secret. The htpasswd file starts empty:
 * users register on hosted (`npm adduser`, or `PUT /-/user/org.couchdb.user:<name>`).
 */
export async function startNpmRegistries(opts: NpmRegistryOptions = {}): Promise<NpmRegistries> {
  const prefixes = opts.prefixes ?? { hosted: '', group: '' };
  for (const prefix of Object.values(prefixes)) {
    if (prefix && !/^(\/[A-Za-z0-9._-]+)+$/.test(prefix)) throw new Error(`a prefix looks like /repository/npm-hosted, got "${prefix}"`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-npm-realm-'));
  const htpasswdFile = path.join(dir, 'htpasswd');
  await writeFile(htpasswdFile, '');
  // 32 characters: verdaccio keeps it as it is (longer ones are replaced by a random one).
  const secret = randomBytes(24).toString('base64');
  const log = new RequestLog();
  const hosted = await startInstance({ name: 'hosted', log, htpasswdFile, secret, prefix: prefixes.hosted });
  let group: Verdaccio;
  try {
    group = await startInstance({ name: 'group', log, htpasswdFile, secret, uplink: hosted.registryUrl, prefix: prefixes.group });
  } catch (error) {
    await hosted.stop();
    throw error;
  }
  return {
    hosted,
    group,
    log,
    htpasswdFile,
    secret,
    dir,
    async destroy() {
      await Promise.allSettled([hosted.stop(), group.stop()]);
      await Promise.allSettled([hosted.dir, group.dir, dir].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/**
 * Registers `name` on a registry the way `npm adduser --auth-type=legacy` does
 * (`PUT /-/user/org.couchdb.user:<name>`) and returns the token it issued.
 */
export async function addUser(registry: string, name: string, password: string): Promise<string> {
  const res = await fetch(`${registry.replace(/\/$/, '')}/-/user/org.couchdb.user:${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ _id: `org.couchdb.user:${name}`, name, password, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await res.json()) as { token?: string; error?: string };
  if (res.status !== 201 || !body.token) throw new Error(`adduser ${name} on ${registry}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

// ---------------------------------------------------------------------------------------------
// The npm CLI, hermetic.

export interface NpmSandbox {
  dir: string;
  /** --userconfig: the only npmrc npm reads (global config points at an empty file). */
  userconfig: string;
  globalconfig: string;
  cache: string;
  home: string;
  registry: string;
}

/** A private HOME, userconfig, globalconfig and cache for npm, pointed at `registry`. */
export async function npmSandbox(registry: string): Promise<NpmSandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-npm-client-'));
  const sandbox: NpmSandbox = {
    dir,
    userconfig: path.join(dir, 'npmrc'),
    globalconfig: path.join(dir, 'global-npmrc'),
    cache: path.join(dir, 'cache'),
    home: path.join(dir, 'home'),
    registry: registry.endsWith('/') ? registry : `${registry}/`,
  };
  await mkdir(sandbox.home, { recursive: true });
  await mkdir(sandbox.cache, { recursive: true });
  await writeFile(sandbox.userconfig, '');
  await writeFile(sandbox.globalconfig, '');
  return sandbox;
}

export interface NpmResult {
  code: number | null;
  stdout: string;
  stderr: string;
  command: string;
}

/**
 * Runs the npm on PATH with only the sandbox's configuration: the environment is cleared of every
 * `npm_*` variable (vitest may run under `npm test`), the registry is the sandbox's, and nothing
 * else talks to the network (no update notifier, no fund).
 */
export function runNpm(
  sandbox: NpmSandbox,
  args: readonly string[],
  opts: {
    cwd?: string;
    /**
     * Prompts to answer, in order: each answer is written once stdout+stderr show its prompt (npm reads each prompt with a
     * fresh readline, so input written up front is lost after the first).
     */
    answers?: ReadonlyArray<{ prompt: RegExp; answer: string }>;
    timeoutMs?: number;
    env?: Record<string, string>;
  } = {},
): Promise<NpmResult> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^npm_/i.test(key) || key === 'NODE_OPTIONS' || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  Object.assign(env, {
    HOME: sandbox.home,
    npm_config_userconfig: sandbox.userconfig,
    npm_config_globalconfig: sandbox.globalconfig,
    npm_config_cache: sandbox.cache,
    npm_config_registry: sandbox.registry,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_loglevel: 'notice',
    npm_config_color: 'false',
    npm_config_progress: 'false',
    // Fail fast instead of npm's 10 s..60 s back-off on a 5xx or a reset.
    npm_config_fetch_retries: '0',
    ...opts.env,
  });
  const command = `npm ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('npm', [...args], { cwd: opts.cwd ?? sandbox.dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const pending = [...(opts.answers ?? [])];
    // stdout and stderr in arrival order, and how much of it earlier prompts used up.
    let transcript = '';
    let seen = 0;
    const answer = (): void => {
      const next = pending[0];
      if (!next) return;
      const text = transcript.slice(seen);
      const match = next.prompt.exec(text);
      if (!match) return;
      seen += match.index + match[0].length;
      pending.shift();
      child.stdin.write(`${next.answer}\n`);
      if (!pending.length) child.stdin.end();
      else answer();
    };
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      transcript += chunk;
      answer();
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      transcript += chunk;
      answer();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, command });
    });
    if (!pending.length) child.stdin.end();
  });
}

/** Throws with npm's output when it failed. */
export function assertNpmOk(result: NpmResult): NpmResult {
  if (result.code !== 0) throw new Error(`${result.command} exited with ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

/**
 * A package folder ready for `npm publish`: package.json, index.js, and optionally `bigBytes` of
 * incompressible data (so the gzipped tarball is about that big).
 */
export async function writePackage(
  dir: string,
  pkg: { name: string; version: string; dependencies?: Record<string, string>; bigBytes?: number },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'package.json'),
    JSON.stringify(
      { name: pkg.name, version: pkg.version, description: `test package ${pkg.name}`, main: 'index.js', license: 'MIT', dependencies: pkg.dependencies },
      null,
      2,
    ),
  );
  await writeFile(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(`${pkg.name}@${pkg.version}`)};\n`);
  await writeFile(path.join(dir, 'README.md'), `# ${pkg.name}\n`);
  if (pkg.bigBytes) await writeFile(path.join(dir, 'blob.bin'), randomBytes(pkg.bigBytes));
  return dir;
}
