/**
 * One nginx per suite, started from a prefix folder that holds its `nginx.conf` (the Maven, raw, yum and
 * RubyGems stand-ins): `master_process off` in the config keeps it one process, and `setpriv --pdeathsig KILL`
 * takes it down with the test run; the machine's own nginx is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

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
