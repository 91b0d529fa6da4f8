/**
 * Active health checks against real in-process HTTP origins, through both upstream clients the
 * adapters inject (undici on Node, fetch on Bun/Deno/workerd).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import type { UpstreamClient } from '../../src/forward/client.ts';
import { fetchClient } from '../../src/forward/fetch-client.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { compileSite, type Site } from '../../src/site/site.ts';
import { checkServer, startHealthChecks } from '../../src/upstream/health.ts';
import type { HealthEvent } from '../../src/upstream/pool.ts';
import { startOrigin } from '../support/origin.ts';
import { freePort } from '../support/ports.ts';

const timeouts = { idle: 5, connect: 2 };
const CLIENTS: Array<[string, () => UpstreamClient]> = [
  ['undici client', () => undiciClient(timeouts)],
  ['fetch client', () => fetchClient(timeouts)],
];

describe.each(CLIENTS)('active health checks with the %s', (_name, makeClient) => {
  let status = 200;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let client: UpstreamClient;

  beforeAll(async () => {
    client = makeClient();
    origin = await startOrigin(
      (req, res) => {
        if (req.url === '/repository/docker-group/v2/hang') return; // never answers
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end('{}');
      },
      { healthChecks: true },
    );
  });
  afterAll(async () => {
    await origin?.close();
    await client?.close?.();
  });

  function siteWith(upstream: string, health: Record<string, unknown> = {}, events: HealthEvent[] = []): Site {
    const config = parseConfig({
      sites: [
        {
          name: 'docker',
          hosts: ['idocker.io'],
          preset: 'docker',
          upstream: { servers: [upstream], backup: [] },
          health: { checks: true, interval: 0.05, timeout: 0.3, backoff: 0.05, ...health },
        },
      ],
    });
    const site = compileSite(config.sites[0]!);
    for (const server of site.servers) server.onChange = (event) => events.push(event);
    return site;
  }

  it('GETs /v2/ under the server prefix; 200 and 401 are healthy on docker sites, 500 is not', async () => {
    const site = siteWith(`${origin.url}/repository/docker-group/`);
    const server = site.servers[0]!;
    status = 401;
    expect(await checkServer(server, site.health, client)).toBe(true);
    expect(origin.seen.at(-1)?.url).toBe('/repository/docker-group/v2/');
    status = 500;
    expect(await checkServer(server, site.health, client)).toBe(false);
    expect(server.up).toBe(false);
    expect(server.health()).toMatchObject({ state: 'down', reason: 'GET /repository/docker-group/v2/ answered 500' });
    status = 200;
    expect(await checkServer(server, site.health, client)).toBe(true);
    expect(server.up).toBe(true);
  });

  it('fails a server that refuses connections or stays silent past the timeout', async () => {
    const port = await freePort();
    const dead = siteWith(`http://127.0.0.1:${port}`);
    expect(await checkServer(dead.servers[0]!, dead.health, client)).toBe(false);
    // The cause in words with the runtime's code once (the client's message already carries it).
    expect(dead.servers[0]!.health()).toMatchObject({
      state: 'down',
      via: 'active',
      reason: `GET /v2/: 127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
      lastCheck: { ok: false, reason: `GET /v2/: 127.0.0.1:${port}: connection refused (ECONNREFUSED)` },
    });
    const silent = siteWith(`${origin.url}/repository/docker-group/`, { path: '/v2/hang' });
    const started = Date.now();
    expect(await checkServer(silent.servers[0]!, silent.health, client)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('on a non-docker site without a health path, counts any answer below 500 from the root as up', async () => {
    const config = parseConfig({ sites: [{ name: 'npm', hosts: ['npm.example.com'], preset: 'npm', upstream: `${origin.url}/repository/npm-group/` }] });
    const site = compileSite(config.sites[0]!);
    site.servers[0]!.onChange = () => {};
    expect(site.health.checks).toBe(true);
    status = 404;
    expect(await checkServer(site.servers[0]!, site.health, client)).toBe(true);
    expect(origin.seen.at(-1)?.url).toBe('/repository/npm-group/');
    // The path as sent, prefix included: which Nexus repository answered.
    expect(site.servers[0]!.health()).toMatchObject({ state: 'up', via: 'active', reason: 'GET /repository/npm-group/ answered 404' });
    status = 503;
    expect(await checkServer(site.servers[0]!, site.health, client)).toBe(false);
    expect(site.servers[0]!.state()).toBe('down');
    status = 200;
  });

  it('brings a server back within an interval of it answering again; stop() ends the checks', async () => {
    const events: HealthEvent[] = [];
    status = 503;
    const site = siteWith(origin.url, { path: '/status' }, events);
    const checks = startHealthChecks([site], client);
    try {
      await until(() => events.some((e) => e.event === 'upstream_down'));
      status = 200;
      const healthyAt = Date.now();
      await until(() => events.some((e) => e.event === 'upstream_up'));
      expect(Date.now() - healthyAt).toBeLessThan(1000);
      expect(events.map((e) => [e.event, e.via])).toEqual([
        ['upstream_down', 'active'],
        ['upstream_up', 'active'],
      ]);
      expect(JSON.parse(JSON.stringify(events[0]))).toMatchObject({ site: 'docker', upstream: origin.url, reason: 'GET /status answered 503' });
    } finally {
      checks.stop();
    }
    await new Promise((r) => setTimeout(r, 150));
    const count = origin.seen.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(origin.seen.length).toBe(count);
  });
});

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
