import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/** One router behind the balancer, and how haproxy tells it the client's address. */
export interface Backend {
  name: string;
  port: number;
  /** `send-proxy-v2` / `send-proxy` (the router's listener has `proxyProtocol`); otherwise X-Forwarded-For (`option forwardfor`). */
  proxy?: 'v1' | 'v2';
}

export interface Haproxy {
  /** The frontend's port, bound on each of `addresses`. */
  port: number;
  /** `http://<address>:<port>` per bound address, in order. */
  urls: string[];
  config: string;
  stop(): Promise<void>;
}

/**
 * Debian's haproxy (2.6) in HTTP mode in front of `backends`: `balance roundrobin`, each request
 * balanced on its own (no `prefer-last-server`, `http-reuse never`), X-Forwarded-For added
 * (`option forwardfor`), a router that stops answering taken out by TCP checks every 200 ms (with the
 * PROXY header when it wants one) and a request whose connect fails, or that met a router going
 * away before any answer, sent to another (`option redispatch`, `retry-on`: bodyless requests
 * only), and its own errors in the registry's JSON error format (so clients retry them). Bound on
 * `addresses` (loopback ones: 127.0.0.0/8 is all local on Linux), one free port; resolved once
 * every address accepts a connection. `-db`: foreground, no daemon.
 */
export async function startHaproxy(backends: readonly Backend[], addresses: readonly string[] = ['127.0.0.1']): Promise<Haproxy> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-'));
  const path = join(dir, 'haproxy.cfg');
  // haproxy's own 502/503/504 in the registry's error format: docker clients (skopeo's retry among
  // them) retry a registry error code; haproxy's HTML page is an unexpected status they give up on.
  const errorfiles = [
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
    [504, 'Gateway Timeout'],
  ].map(([status, reason]) => {
    const body = `${JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `${status} ${reason} from the balancer: try again` }] })}\n`;
    const file = join(dir, `${status}.http`);
    const head = [`HTTP/1.0 ${status} ${reason}`, 'Cache-Control: no-cache', 'Connection: close', 'Content-Type: application/json'];
    writeFileSync(file, `${head.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    return `  errorfile ${status} ${file}`;
  });
  const server = (b: Backend) =>
    `  server ${b.name} 127.0.0.1:${b.port} check inter 200ms fall 1 rise 2` +
    (b.proxy === 'v2' ? ' send-proxy-v2 check-send-proxy' : b.proxy === 'v1' ? ' send-proxy check-send-proxy' : '');
  const config = [
    'global',
    '  maxconn 200',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  retries 3',
    '  option redispatch',
    // A request without a body (a HEAD, a GET) that met a router going away goes to another one.
    '  retry-on conn-failure empty-response response-timeout',
    ...errorfiles,
    'frontend registry',
    ...addresses.map((address) => `  bind ${address}:${port}`),
    '  default_backend routers',
    'backend routers',
    '  balance roundrobin',
    '  option forwardfor',
    '  http-reuse never',
    ...backends.map(server),
    '',
  ].join('\n');
  writeFileSync(path, config);
  const run = await runHaproxy(
    path,
    config,
    addresses.map((address) => [address, port] as const),
  );
  return { port, urls: addresses.map((address) => `http://${address}:${port}`), config, stop: run.stop };
}

/**
 * haproxy in the foreground (`-db`) on the config file at `path` (`config`: its text, for errors),
 * resolved once each of `listens` ([address, port]) accepts a connection (at most 10 s; an exit
 * before that throws with haproxy's stderr). `stop` sends SIGTERM to it alone and waits for its exit.
 */
export async function runHaproxy(
  path: string,
  config: string,
  listens: ReadonlyArray<readonly [string, number]>,
): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit');
  const deadline = Date.now() + 10_000;
  for (const [address, port] of listens) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}\n${config}`);
      if (Date.now() > deadline) throw new Error(`haproxy did not listen within 10 s: ${stderr}`);
      const accepted = await new Promise<boolean>((done) => {
        const probe = connect(port, address, () => {
          probe.destroy();
          done(true);
        });
        probe.on('error', () => done(false));
      });
      if (accepted) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
