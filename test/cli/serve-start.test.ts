/**
 * `serve` refuses at start what `check` refuses (issue 19), on every runtime, and a busy port says
 * what to do about it. Each case started before: the /v2/ upstream served, and skopeo pushes landed
 * in a repository named `v2/<name>`; the admin port on a listener's died with a bare EADDRINUSE.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { RUNTIMES, startRouter } from '../support/router.ts';
import { BUN_NODE, DENO, DOCKER_SITE, files, NODE, ROOT, run } from './support.ts';

const BUN = [join(ROOT, 'node_modules/.bin/bun'), 'run', join(ROOT, 'src/bun.ts')];

describe.each(RUNTIMES)('serve on %s', (runtime) => {
  it('a docker upstream URL ending in /v2/ stops it at start (exit 2), saying where pushes would land', async () => {
    const hosted = `http://127.0.0.1:${await freePort()}/v2/`;
    const started = startRouter(runtime, { sites: [{ ...DOCKER_SITE, upstreams: { read: 'http://127.0.0.1:1/', write: hosted } }] }, { quiet: true });
    await expect(started).rejects.toThrow(/router exited with 2:/);
    await expect(started).rejects.toThrow(`sites[0].upstreams.write: "${hosted}" ends in /v2/`);
    await expect(started).rejects.toThrow('land in a repository named "v2/team/app"');
  });
});

describe('serve: what used to fail only once listening', () => {
  const serve = async (config: unknown, env: Record<string, string> = {}, command = NODE) => {
    const dir = files({ 'router.json': JSON.stringify(config) });
    return run(command, ['--config', join(dir, 'router.json'), '--quiet'], { env });
  };

  it("the admin port on a listener's socket: exit 2 before anything listens", async () => {
    const port = await freePort();
    const { code, stderr } = await serve({ listen: { port }, admin: { port }, sites: [DOCKER_SITE] });
    expect(code).toBe(2);
    expect(stderr).toContain(`admin.port: admin (127.0.0.1:${port}) and listen[0] (0.0.0.0:${port}) overlap`);
    expect(stderr).not.toContain('listening on');
  });

  it('PORT=abc and a PORT on the admin port: exit 2 with the reason, as check says', async () => {
    const admin = await freePort();
    const config = { listen: { host: '127.0.0.1', port: await freePort() }, admin: { port: admin }, sites: [DOCKER_SITE] };
    const abc = await serve(config, { PORT: 'abc' });
    expect(abc.code).toBe(2);
    expect(abc.stderr).toContain('PORT must be a port number from 0 to 65535 (it replaces the port of listen[0]), got "abc"');
    const onAdmin = await serve(config, { PORT: String(admin) });
    expect(onAdmin.code).toBe(2);
    expect(onAdmin.stderr).toContain(`admin.port: with PORT=${admin}, 127.0.0.1:${admin} is listed twice (admin and listen[0])`);
  });
});

describe('a port another process holds', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    holder = createServer((_req, res) => res.end());
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((done) => holder.close(done)));

  it.each([
    ['node dist/node.mjs', NODE],
    ['bun run src/node.ts', BUN_NODE],
    ['bun run src/bun.ts', BUN],
    ['deno run src/deno.ts', DENO],
  ])('%s: names the address, what holds it, and PORT / listen.port', async (_name, command) => {
    const dir = files({ 'router.json': JSON.stringify({ listen: { host: '127.0.0.1', port }, sites: [DOCKER_SITE] }) });
    const { code, stderr } = await run(command, ['--config', join(dir, 'router.json'), '--quiet']);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`registry-router: cannot listen on 127.0.0.1:${port}: `);
    expect(stderr).toContain(`; another process already listens on 127.0.0.1:${port} (\`ss -ltnp 'sport = :${port}'\` shows which): `);
    expect(stderr).toContain('stop it, or give the router another port: PORT=<port>');
    expect(stderr).toMatch(/"port" in (listen\[0\] of the config|"listen" of the config)/);
  });

  // One lifecycle (src/adapter/lifecycle.ts) starts the admin listener on every runtime: Deno's used to die with a bare AddrInUse.
  it.each([
    ['node dist/node.mjs', NODE],
    ['bun run src/node.ts', BUN_NODE],
    ['bun run src/bun.ts', BUN],
    ['deno run src/deno.ts', DENO],
  ])('%s: the admin port held: exit 1, naming the address and the "admin" setting', async (_name, command) => {
    const config = { listen: { host: '127.0.0.1', port: await freePort() }, admin: { host: '127.0.0.1', port }, sites: [DOCKER_SITE] };
    const dir = files({ 'router.json': JSON.stringify(config) });
    const { code, stderr } = await run(command, ['--config', join(dir, 'router.json'), '--quiet']);
    expect(code).toBe(1);
    expect(stderr).toContain(`registry-router: cannot listen on 127.0.0.1:${port} (admin): `);
    expect(stderr).toContain(`; another process already listens on 127.0.0.1:${port} (\`ss -ltnp 'sport = :${port}'\` shows which): `);
    expect(stderr).toContain('stop it, or give the router another port: "admin": { "port": … } in the config');
    expect(stderr).not.toContain('status page on');
  });
});
