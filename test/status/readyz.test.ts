/**
 * `/readyz` and `/status.json` of a real router process on each runtime with an admin listener,
 * with the config a first user writes: one server per role and no `health` section. A site whose
 * upstreams are dead must make the router not ready (active checks are on by default) and show
 * down, with the cause worded once; a live one shows up from its check; a passive-only site says
 * so, is unknown until a request is answered, then up from that answer.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/status/snapshot.ts';
import { startOrigin } from '../support/origin.ts';
import { freePort } from '../support/ports.ts';
import { startRouter, type Runtime, type RouterProcess } from '../support/router.ts';

interface Readyz {
  status: string;
  problems: string[];
  sites: Array<{
    name: string;
    checks: string;
    servers: Array<{ upstream: string; roles: string[]; state: string; via: string | null; reason: string; lastCheck: unknown; lastAnswer: unknown }>;
  }>;
}

const ADMIN_RUNTIMES: readonly Runtime[] = ['node', 'bun', 'deno'];

describe.each(ADMIN_RUNTIMES)('/readyz and /status.json on %s', (runtime) => {
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let router: RouterProcess;
  let admin: string;
  let deadRead: number;
  let deadWrite: number;

  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await request(`${admin}${path}`);
    return { status: res.statusCode, body: (await res.body.json()) as T };
  };

  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      const body = req.url === '/v2/' ? '{}' : '{"errors":[]}';
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(body);
    });
    [deadRead, deadWrite] = [await freePort(), await freePort()];
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    router = await startRouter(
      runtime,
      {
        admin: { port: adminPort },
        sites: [
          { name: 'dead', hosts: ['dead.test'], preset: 'docker', upstreams: { read: `http://127.0.0.1:${deadRead}`, write: `http://127.0.0.1:${deadWrite}` } },
          { name: 'live', hosts: ['live.test'], preset: 'docker', upstream: origin.url },
          { name: 'passive', hosts: ['passive.test'], preset: 'generic', upstream: `${origin.url}/files/`, health: { checks: false } },
        ],
      },
      { quiet: true },
    );
  });
  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  it('is not ready while every server of a role is known down, and says what it knows of each server and how', async () => {
    await expect.poll(async () => (await get<Readyz>('/readyz')).status, { timeout: 10_000 }).toBe(503);
    const { body } = await get<Readyz>('/readyz');
    expect(body.status).toBe('not ready');
    expect(body.problems).toEqual(['site dead: no healthy read upstream', 'site dead: no healthy write upstream']);
    const [dead, live, passive] = body.sites;
    expect(dead!.checks).toBe('active: GET /v2/ every 5 s (up: 200 or 401), and failed requests');
    expect(dead!.servers).toEqual(
      [deadRead, deadWrite].map((port, i) => ({
        upstream: `http://127.0.0.1:${port}`,
        roles: [i ? 'write' : 'read'],
        state: 'down',
        since: expect.any(String),
        via: 'active',
        // The cause in words, its code once.
        reason: `GET /v2/: 127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
        lastCheck: { at: expect.any(String), ok: false, reason: `GET /v2/: 127.0.0.1:${port}: connection refused (ECONNREFUSED)` },
        lastAnswer: null,
      })),
    );
    await expect.poll(async () => (await get<Readyz>('/readyz')).body.sites[1]!.servers[0]!.state, { timeout: 10_000 }).toBe('up');
    expect(live!.servers[0]!.roles).toEqual(['read', 'write']);
    const liveNow = (await get<Readyz>('/readyz')).body.sites[1]!;
    expect(liveNow.servers[0]).toMatchObject({ state: 'up', via: 'active', reason: 'GET /v2/ answered 200', lastCheck: { ok: true } });
    expect(passive!.checks).toBe('passive only: failed and answered requests (health.checks is false)');
    expect(passive!.servers[0]).toMatchObject({
      state: 'unknown',
      via: null,
      reason: 'not checked: active checks are off and no request has been answered yet',
      lastCheck: null,
    });
  });

  it('shows the passive-only server up once it answered a request, with when and what', async () => {
    const res = await request(`${router.url}/anything`, { headers: { host: 'passive.test' } });
    expect(res.statusCode).toBe(404);
    await res.body.dump();
    await expect.poll(async () => (await get<StatusSnapshot>('/status.json')).body.sites[2]!.roles[0]!.servers[0]!.state, { timeout: 5000 }).toBe('up');
    const { body } = await get<StatusSnapshot>('/status.json');
    expect(body.version).toBe(2);
    const [dead, live, passive] = body.sites;
    expect(passive!.checks).toEqual({ on: false, intervalMs: 5000, path: '/', expected: 'any answer below 500' });
    expect(passive!.roles[0]!.servers[0]).toMatchObject({
      state: 'up',
      up: true,
      via: 'passive',
      reason: 'a request was answered (404)',
      lastAnswer: { status: 404 },
      lastCheck: null,
    });
    expect(dead!.roles.map((role) => role.servers.map((s) => [s.state, s.up]))).toEqual([[['down', false]], [['down', false]]]);
    expect(live!.roles[0]!.servers[0]).toMatchObject({ state: 'up', via: 'active' });
    expect(body.ready).toBe(false);
  });

  it('names the status page in the admin start line', () => {
    const line = `registry-router status page on ${admin}/ (admin listener; also /status.json, /metrics, /healthz, /readyz)`;
    expect(router.stderr()).toContain(line);
  });
});
