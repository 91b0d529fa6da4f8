/**
 * A second router on a port a router with workers already serves is refused (exit 1, the busy-port
 * line), on every runtime, as a lone Node router and nginx are: Bun's and Deno's workers listen
 * with reusePort, which used to let a second router's workers (or a Bun/Deno TLS listener, also on
 * reusePort for its SIGHUP reload) join the port silently and take a share of the connections.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { BUN_NODE, DENO, DOCKER_SITE, files, NODE, ROOT, run } from './support.ts';

const BUN = [join(ROOT, 'node_modules/.bin/bun'), 'run', join(ROOT, 'src/bun.ts')];
const DENO_RUN = [...DENO.slice(0, 2), '--allow-run', ...DENO.slice(2)];
const COMMANDS = { node: NODE, 'bun-node': BUN_NODE, bun: BUN, deno: DENO_RUN } as const;

let certDir: string;
beforeAll(() => {
  certDir = files({});
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=registry.test', '-keyout', 'key.pem', '-out', 'cert.pem'],
    {
      cwd: certDir,
      stdio: 'ignore',
    },
  );
});

/** GET /v2/ on a new connection each: how many were answered. */
async function answered(port: number, count: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const status = await new Promise<number>((done, fail) => {
      const req = request({ host: '127.0.0.1', port, path: '/v2/', agent: false, headers: { host: 'idocker.io' } }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode!));
      });
      req.on('error', fail);
      req.end();
    });
    if (status > 0) ok++;
  }
  return ok;
}

describe.each(['node', 'bun-node', 'bun', 'deno'] as const satisfies readonly Runtime[])('a router with workers: 2 on %s holds its port', (runtime) => {
  let first: RouterProcess;
  beforeAll(async () => {
    first = await startRouter(runtime, { workers: 2, sites: [DOCKER_SITE] });
  });
  afterAll(() => first?.stop());

  it("serve warns, as check does, when workers spread a client's push over processes without a shared store (not on Node)", () => {
    const warning = /registry-router: warning: workers: 2 \S+ processes spread one client's connections .*\(site docker\)/;
    if (runtime === 'node') expect(first.stderr()).not.toMatch(warning);
    else expect(first.stderr()).toMatch(warning);
  });

  it.each([
    ['workers: 2', { workers: 2 }, false],
    ['workers: 1', { workers: 1 }, false],
    ['workers: 1 on TLS', { workers: 1 }, true],
  ] as const)('a second router (%s) on its port: exit 1 with the busy-port line; the first one answers every request', async (_name, extra, tls) => {
    const listen = { host: '127.0.0.1', port: first.port, ...(tls && { cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') }) };
    const dir = files({ 'router.json': JSON.stringify({ ...extra, listen, sites: [DOCKER_SITE] }) });
    const { code, stderr } = await run(COMMANDS[runtime], ['--config', join(dir, 'router.json'), '--quiet']);
    expect(stderr).toContain(`registry-router: cannot listen on 127.0.0.1:${first.port}: `);
    expect(stderr).toContain(`; another process already listens on 127.0.0.1:${first.port} (`);
    expect(stderr).not.toContain('listening on');
    expect(code).toBe(1);
    const requests = () => first.accessLog().filter((entry) => entry.path === '/v2/').length;
    const before = requests();
    expect(await answered(first.port, 10)).toBe(10);
    // Every request reached the first router (its access log has them all).
    await expect.poll(() => requests() - before, { timeout: 10_000 }).toBe(10);
  });
});

describe('workers: 2 under bun run src/node.ts with a Maven site and Redis away', () => {
  let router: RouterProcess;
  let admin: string;
  let redisUrl: string;
  beforeAll(async () => {
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    redisUrl = `redis://127.0.0.1:${await freePort()}/0`;
    const maven = {
      name: 'maven',
      hosts: ['maven.test'],
      preset: 'maven' as const,
      upstreams: { read: 'http://127.0.0.1:1/', write: 'http://127.0.0.1:1/', snapshots: 'http://127.0.0.1:1/' },
    };
    router = await startRouter(
      'bun-node',
      {
        workers: 2,
        admin: { host: '127.0.0.1', port: adminPort },
        sessions: { redis: redisUrl, timeout: 200 },
        sites: [{ ...maven, health: { checks: false } }],
      },
      { quiet: true },
    );
  });
  afterAll(() => router?.stop());

  it("says its server choice once, the store away with each worker's prefix, and /readyz lists the store once", async () => {
    expect(router.stderr().match(/serving through Bun\.serve/g)).toHaveLength(1);
    const away = new RegExp(`registry-router worker [12]: sessions store ${redisUrl.replace(/[./]/g, '\\$&')} is away`, 'g');
    await expect.poll(() => router.stderr().match(away)?.length ?? 0, { timeout: 10_000 }).toBe(2);
    expect(router.stderr()).not.toMatch(/^registry-router: sessions store/m);
    const readyz = (await (await fetch(`${admin}/readyz`)).json()) as { problems: string[] };
    const lines = readyz.problems.filter((line) => line.startsWith('sessions: '));
    expect(lines).toEqual([expect.stringMatching(/^sessions: redis store .* is away since .*calls so far in 2 workers\)$/)]);
  });
});
