/**
 * One nginx per suite, started from a prefix folder that holds its `nginx.conf` (the Maven, raw, yum and
 * RubyGems stand-ins): `master_process off` in the config keeps it one process, and `setpriv --pdeathsig KILL`
 * takes it down with the test run; the machine's own nginx is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { HEALTH_CHECK_AGENT } from './origin.ts';
import { freePort } from './ports.ts';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const SETPRIV = '/usr/bin/setpriv';

/**
 * Starts nginx with `dir/nginx.conf` and waits (up to 10 s) until every one of `ports` on 127.0.0.1 accepts a
 * connection. The child is added to `live` while it runs (the caller stops it by PID). Never throws: `error` holds
 * nginx's stderr and error log when it exited (a port taken: the caller picks others), or the time-out.
 */
export async function spawnNginx(dir: string, ports: readonly number[], live: Set<ChildProcess>): Promise<{ child?: ChildProcess; error: string }> {
  const argv = ['-p', `${dir}/`, '-c', `${dir}/nginx.conf`, '-e', `${dir}/logs/error.log`];
  const [cmd, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', NGINX_BIN, ...argv]] : [NGINX_BIN, argv];
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      const log = await readFile(path.join(dir, 'logs/error.log'), 'utf8').catch(() => '');
      return { error: `${stderr}\n${log}` };
    }
    if ((await Promise.all(ports.map(canConnect))).every(Boolean)) return { child, error: '' };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  live.delete(child);
  return { error: `nginx did not listen within 10 s: ${stderr}` };
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** An nginx started by `startNginx`: its ports by server name, and how to stop it. */
export interface RunningNginx<S extends string> {
  ports: Record<S, number>;
  /** SIGTERM, SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Writes `dir/nginx.conf` from `conf` with a free loopback port for each of `servers`, starts nginx and waits until
 * every port answers; tries other ports when one was taken meanwhile (5 tries). Throws with nginx's error otherwise;
 * `what` names the stand-in in that message.
 */
export async function startNginx<S extends string>(
  dir: string,
  servers: readonly S[],
  conf: (ports: Record<S, number>) => string,
  what: string,
): Promise<RunningNginx<S>> {
  let error = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const ports = {} as Record<S, number>;
    for (const server of servers) ports[server] = await freePort();
    await writeFile(path.join(dir, 'nginx.conf'), conf(ports));
    const started = await spawnNginx(dir, Object.values(ports), running);
    error = started.error;
    const child = started.child;
    if (child) {
      const exited = new Promise<void>((done) => (child.exitCode !== null ? done() : child.once('exit', () => done())));
      return {
        ports,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
          running.delete(child);
        },
      };
    }
    if (!/Address already in use/.test(error)) break;
  }
  throw new Error(`nginx (${what}) did not start:\n${error}`);
}

/**
 * The entries `read` returns past the first `before`, once there are at least `count` of them (nginx writes its
 * access-log line after the answer has gone out, so a client can read the answer before the line is there).
 * Gives up after `ms` and returns what there is, so the caller's assertion shows it.
 */
export async function logLinesAfter<T>(read: () => Promise<T[]>, before: number, count: number, ms = 3_000): Promise<T[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = (await read()).slice(before);
    if (lines.length >= count || Date.now() >= deadline) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The start of a stand-in's nginx.conf, up to `http {` (exclusive): foreground, one process, pid and error log in
 * `dir`, 256 connections. `writer` names the file that wrote it (a comment at the top).
 */
export function nginxMain(dir: string, writer: string): string {
  return `# written by ${writer}
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log info;
events { worker_connections 256; }`;
}

/** The `*_temp_path` lines of an `http` block, every one under `dir/temp` (two-space indent, no trailing newline). */
export function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${dir}/temp/${kind === 'client_body' ? 'body' : kind};`)
    .join('\n');
}

/**
 * The JSON lines of a stand-in's access log (`log_format … escape=json`), as records, without the router's
 * background health checks (not requests a client caused); none while the file is not there.
 */
export async function clientLogEntries(file: string): Promise<Record<string, string>[]> {
  const text = existsSync(file) ? await readFile(file, 'utf8') : '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, string>)
    .filter((entry) => entry.agent !== HEALTH_CHECK_AGENT);
}
