/**
 * `registry-router demo` through the built command, with the real docker-registry: every port has a
 * flag; a busy port given on the command line stops it with a message naming the flag, a busy
 * default is replaced and said at the top of the banner; its own readiness request is not logged.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { NODE } from './support.ts';

interface Demo {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs the demo until its banner is out (then stops it with SIGTERM), or until it exits by itself. */
async function demo(args: string[]): Promise<Demo> {
  const child = spawn(NODE[0]!, [NODE[1]!, 'demo', ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Demo = { stdout: '', stderr: '', code: null };
  child.stdout!.on('data', (chunk) => (out.stdout += chunk));
  child.stderr!.on('data', (chunk) => (out.stderr += chunk));
  const exited = new Promise<void>((done) =>
    child.once('exit', (code) => {
      out.code = code;
      done();
    }),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  for (let i = 0; i < 600 && !ended && !out.stdout.includes('Ctrl-C stops everything'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!ended) child.kill('SIGTERM');
  await exited;
  return out;
}

/** Holds a port on 127.0.0.1 (or finds it held already) for the duration of `body`. */
async function whileBusy<T>(port: number, body: () => Promise<T>): Promise<T> {
  const server = net.createServer();
  const held = await new Promise<boolean>((done) => {
    server.once('error', () => done(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => done(true));
  });
  try {
    return await body();
  } finally {
    if (held) await new Promise((done) => server.close(done));
  }
}

describe('demo', () => {
  it("takes every port from its flags; the banner comes first, without the demo's own request logged above it", async () => {
    const [port, admin, group, hosted] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const run = await demo(['--port', `${port}`, '--admin-port', `${admin}`, '--group-port', `${group}`, '--hosted-port', `${hosted}`]);
    expect(run.stdout.startsWith('\nregistry-router demo\n'), run.stdout).toBe(true);
    expect(run.stdout).toContain(`  hosted registry   http://127.0.0.1:${hosted}   (pushes land here)\n`);
    expect(run.stdout).toContain(`  group registry    http://127.0.0.1:${group}   (pull-through cache of hosted)\n`);
    expect(run.stdout).toContain(`  router            http://127.0.0.1:${port}   reads → group, writes → hosted   (GET /v2/ → 200)\n`);
    expect(run.stdout).toContain(`  status page       http://127.0.0.1:${admin}/`);
    expect(run.stdout).not.toMatch(/GET \/v2\/ 200/);
    expect(run.code).toBe(0);
  });

  it('a busy --port given on the command line: exit 1 naming the flag, nothing started', async () => {
    const port = await freePort();
    const run = await whileBusy(port, () => demo(['--port', `${port}`, '--admin-port', '0', '--group-port', '0', '--hosted-port', '0']));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`demo: port ${port} (--port, the router) is in use on 127.0.0.1 by another program: give another --port (0: any free port)`);
  });

  it("a busy default port (the group registry's 8082) is replaced, and the banner says so first", async () => {
    const run = await whileBusy(8082, () => demo(['--port', '0', '--admin-port', '0', '--hosted-port', '0']));
    expect(run.stdout).toMatch(/^\nNOTE: port 8082 is busy: the group registry listens on \d+ instead \(--group-port N to choose\)\nregistry-router demo\n/);
    expect(run.code).toBe(0);
  });
});
