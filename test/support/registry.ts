/**
 * Spawns real CNCF Distribution 2.8 registries (`/usr/bin/docker-registry`,
 * Debian package `docker-registry`) on 127.0.0.1 for end-to-end tests.
 *
 * Findings (verified by test/support/harness.test.ts and manual experiments):
 *
 * - A registry started with `proxy.remoteurl` (pull-through cache; our stand-in
 *   for a Nexus *group*) REFUSES pushes: `POST /v2/<name>/blobs/uploads/`
 *   answers `405 Method Not Allowed` with
 *   `{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`,
 *   so `skopeo copy ... docker://G/...` fails. Manifest PUT and DELETE are
 *   refused the same way.
 * - In proxy mode, `GET/HEAD /v2/<name>/manifests/<tag>` first asks the remote;
 *   if the remote does not answer with the tag (404 or unreachable), it falls
 *   back to the tag cached locally. Manifests and blobs already cached locally
 *   are served without contacting the remote. See group.ts.
 * - The proxy caches a blob in a background goroutine that fetches it from the
 *   remote a second time, so right after a pull through the proxy the blob may
 *   not be in the proxy's storage yet (group.ts waits for it on disk).
 * - Manifest HEAD/GET needs an `Accept` header that lists the manifest's media
 *   type: 2.8 answers 404 MANIFEST_UNKNOWN ("OCI manifest found, but accept
 *   header does not support OCI manifests") for an OCI manifest requested
 *   without `application/vnd.oci.image.manifest.v1+json` in Accept.
 * - Location headers from the upload endpoints are absolute
 *   (`http://<Host header>/v2/...`) unless `relativeUrls: true` is given.
 * - Distribution has no log-file setting: stdout+stderr are redirected to
 *   `logFile` (appended to across restarts).
 * - htpasswd auth needs bcrypt entries; we run `htpasswd -Bbn` (Debian
 *   package `apache2-utils`), falling back to Python's `crypt` module if
 *   `htpasswd` is missing (Python 3.11 on Debian 12 has it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

export const REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry';
const SETPRIV = '/usr/bin/setpriv';

export interface TokenAuthOptions {
  /** URL of the token endpoint that clients are sent to. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the certificate(s) whose keys sign the tokens. */
  rootCertPem: string;
}

export interface RegistryOptions {
  /** Used for the temp dir name and error messages. */
  name: string;
  /** Makes this registry a pull-through cache of that URL (read-only). */
  proxyRemote?: string;
  /** Credentials the proxy uses towards proxyRemote (proxy.username/password). */
  proxyAuth?: { user: string; password: string };
  htpasswd?: { user: string; password: string };
  token?: TokenAuthOptions;
  /** storage.delete.enabled (manifest and blob DELETE). */
  deleteEnabled?: boolean;
  /** http.relativeurls: Location headers become relative. */
  relativeUrls?: boolean;
  /** Default "info". */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Fixed port; by default a free one is picked (and re-picked on a bind race). */
  port?: number;
  /** How long to wait for GET /v2/ to answer. Default 15000 ms. */
  startTimeoutMs?: number;
  /**
   * storage.filesystem.rootdirectory; default `<dir>/data`. Several registries may share one
   * (a folder given here is never removed by destroy()).
   */
  storageDir?: string;
  /** http.secret (signs upload state); default `test-secret-<name>`. */
  httpSecret?: string;
}

/** Options that may change on restart (same dir, same port). */
export type RestartOptions = Partial<Omit<RegistryOptions, 'name' | 'port' | 'storageDir'>>;

export interface Registry {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** 127.0.0.1:PORT, the form skopeo wants after docker:// */
  host: string;
  port: number;
  /** Temp dir holding config.yml, data/, htpasswd, registry.log. */
  dir: string;
  /** Storage root (storage.filesystem.rootdirectory). */
  dataDir: string;
  logFile: string;
  configFile: string;
  /** Current effective options. */
  readonly options: RegistryOptions;
  /** Kills the process and waits for it to exit. Idempotent. Keeps dir. */
  stop(): Promise<void>;
  /** stop() and start again on the same port and dir, merging `opts` into the options. */
  restart(opts?: RestartOptions): Promise<void>;
  /** stop() and remove dir. */
  destroy(): Promise<void>;
  /** Last lines of the log file. */
  logTail(lines?: number): Promise<string>;
}

const INSTANCE_HEADER = 'X-Test-Registry-Instance';
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
        /* already gone */
      }
    }
  });
}

/** Kills every registry started by this process (e.g. from a global teardown). */
export async function stopAllRegistries(): Promise<void> {
  await Promise.all([...live].map((c) => killAndWait(c)));
}

function killAndWait(child: ChildProcess, graceMs = 3000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* ignore */
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      /* ignore */
    }
  });
}

/** "user:$2y$..." bcrypt line for Distribution's htpasswd auth. */
export function bcryptHtpasswdLine(user: string, password: string): string {
  const ht = spawnSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' });
  if (ht.status === 0 && ht.stdout.includes(':$2')) return ht.stdout.trim();
  const py = spawnSync(
    'python3',
    ['-W', 'ignore', '-c', "import crypt,sys;print(sys.argv[1]+':'+crypt.crypt(sys.argv[2],crypt.mksalt(crypt.METHOD_BLOWFISH,rounds=16)))", user, password],
    { encoding: 'utf8' },
  );
  if (py.status === 0 && py.stdout.includes(':$2')) return py.stdout.trim();
  throw new Error(
    'cannot make a bcrypt htpasswd entry: install apache2-utils (htpasswd) ' +
      `[htpasswd: ${ht.error?.message ?? ht.stderr}; python3: ${py.error?.message ?? py.stderr}]`,
  );
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function buildConfig(o: RegistryOptions, dir: string, port: number, instance: string): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    version: '0.1',
    log: {
      level: o.logLevel ?? 'info',
      formatter: 'text',
      accesslog: { disabled: false },
      fields: { service: `registry-${o.name}` },
    },
    storage: {
      filesystem: { rootdirectory: o.storageDir ?? path.join(dir, 'data') },
      delete: { enabled: o.deleteEnabled === true },
      maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: false } },
      redirect: { disable: true },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: o.httpSecret ?? `test-secret-${o.name}`,
      relativeurls: o.relativeUrls === true,
      // The instance header lets waitReady tell *this* process from another
      // server that already listens on the port.
      headers: { 'X-Content-Type-Options': ['nosniff'], [INSTANCE_HEADER]: [instance] },
    },
  };
  if (o.proxyRemote !== undefined) {
    const proxy: Record<string, string> = { remoteurl: o.proxyRemote };
    if (o.proxyAuth) {
      proxy.username = o.proxyAuth.user;
      proxy.password = o.proxyAuth.password;
    }
    cfg.proxy = proxy;
  }
  if (o.htpasswd && o.token) throw new Error('startRegistry: choose htpasswd or token auth, not both');
  if (o.htpasswd) {
    cfg.auth = { htpasswd: { realm: 'basic-realm', path: path.join(dir, 'htpasswd') } };
  } else if (o.token) {
    cfg.auth = {
      token: {
        realm: o.token.realm,
        service: o.token.service,
        issuer: o.token.issuer,
        rootcertbundle: path.join(dir, 'token-root.pem'),
      },
    };
  }
  return cfg;
}

async function waitReady(url: string, instance: string, child: ChildProcess, timeoutMs: number): Promise<{ ok: true } | { ok: false; exited: boolean }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return { ok: false, exited: true };
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if ((res.status === 200 || res.status === 401) && res.headers.get(INSTANCE_HEADER) === instance) {
        return { ok: true };
      }
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ok: false, exited: child.exitCode !== null || child.signalCode !== null };
}

export async function startRegistry(opts: RegistryOptions): Promise<Registry> {
  installExitHook();
  const safeName = opts.name.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = await mkdtemp(path.join(os.tmpdir(), `rr-registry-${safeName}-`));
  const dataDir = opts.storageDir ?? path.join(dir, 'data');
  const logFile = path.join(dir, 'registry.log');
  const configFile = path.join(dir, 'config.yml');
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await mkdir(dataDir, { recursive: true });

  let current: RegistryOptions = { ...opts };
  let child: ChildProcess | undefined;
  let port = opts.port ?? 0;

  async function writeFiles(instance: string): Promise<void> {
    // JSON is valid YAML, and avoids any quoting pitfalls.
    await writeFile(configFile, JSON.stringify(buildConfig(current, dir, port, instance), null, 2) + '\n');
    if (current.htpasswd) {
      const line = bcryptHtpasswdLine(current.htpasswd.user, current.htpasswd.password);
      await writeFile(path.join(dir, 'htpasswd'), line + '\n');
    }
    if (current.token) await writeFile(path.join(dir, 'token-root.pem'), current.token.rootCertPem);
  }

  async function launch(): Promise<void> {
    const fixedPort = current.port !== undefined;
    for (let attempt = 1; ; attempt++) {
      if (!fixedPort && port === 0) port = await freePort();
      const instance = randomUUID();
      await writeFiles(instance);
      const fh = await open(logFile, 'a');
      // setpriv (util-linux, always on Debian) sets PR_SET_PDEATHSIG and execs
      // the registry (same pid), so it dies with us even if we are SIGKILLed
      // (vitest workers may be killed without running 'exit' handlers).
      const [cmd, args] = existsSync(SETPRIV)
        ? [SETPRIV, ['--pdeathsig', 'KILL', '--', REGISTRY_BIN, 'serve', configFile]]
        : [REGISTRY_BIN, ['serve', configFile]];
      const proc = spawn(cmd, args, {
        cwd: dir,
        stdio: ['ignore', fh.fd, fh.fd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      });
      await fh.close();
      live.add(proc);
      const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
      const ready = await Promise.race([
        waitReady(`http://127.0.0.1:${port}`, instance, proc, current.startTimeoutMs ?? 15000),
        spawnError.then((e) => ({ ok: false as const, exited: true, error: e })),
      ]);
      if (ready.ok) {
        child = proc;
        proc.once('exit', () => live.delete(proc));
        return;
      }
      await killAndWait(proc);
      const log = await tail(logFile);
      // Lost the race for a freshly probed port: pick another one.
      if (!fixedPort && attempt < 4 && /address already in use/i.test(log)) {
        port = 0;
        continue;
      }
      const why = 'error' in ready ? ` (${ready.error.message})` : ready.exited ? ' (process exited)' : ' (timeout)';
      throw new Error(`registry "${current.name}" did not become ready on 127.0.0.1:${port}${why}; ` + `config ${configFile}; log tail:\n${log}`);
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (c) await killAndWait(c);
  }

  try {
    await launch();
  } catch (e) {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }

  const reg: Registry = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get host() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    dataDir,
    logFile,
    configFile,
    get options() {
      return current;
    },
    stop,
    async restart(next?: RestartOptions) {
      await stop();
      current = { ...current, ...next, port };
      // The port was ours a moment ago; Go sets SO_REUSEADDR so rebinding works.
      await launch();
    },
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    logTail: (lines?: number) => tail(logFile, lines),
  };
  return reg;
}

/** True if the registry stored a blob for that repository (link file present). */
export function hasRepoBlobOnDisk(reg: Pick<Registry, 'dataDir'>, repo: string, digest: string): boolean {
  const hex = digest.replace(/^sha256:/, '');
  const base = path.join(reg.dataDir, 'docker', 'registry', 'v2');
  return (
    existsSync(path.join(base, 'repositories', repo, '_layers', 'sha256', hex, 'link')) &&
    existsSync(path.join(base, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'))
  );
}
