/**
 * A download whose upstream dies midway must end with an error the client sees (a reset or a
 * truncated body), never a clean short 200. The app runs in-process under the Node adapter's
 * server (@hono/node-server), once with each upstream client; the e2e suite (test/e2e/ha.test.ts)
 * does the same with real registries on every runtime.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { createApp, type RouterApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { UpstreamClient } from '../../src/forward/client.ts';
import { fetchClient } from '../../src/forward/fetch-client.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { startOrigin } from '../support/origin.ts';

const MiB = 1024 * 1024;
const timeouts = { idle: 10, connect: 2 };
const CLIENTS: Array<[string, () => UpstreamClient]> = [
  ['undici client', () => undiciClient(timeouts)],
  ['fetch client', () => fetchClient(timeouts)],
];

describe.each(CLIENTS)('a download cut by its upstream, %s', (_name, makeClient) => {
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let app: RouterApp;
  let server: Server;
  let url: string;
  const log: AccessEntry[] = [];

  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      const chunked = req.url!.includes('chunked');
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(!chunked && { 'content-length': 8 * MiB }) });
      res.write(Buffer.alloc(MiB, 1));
      // The upstream process dies: its socket goes away mid-body.
      setTimeout(() => res.socket?.destroy(), 100);
    });
    const config = parseConfig({ sites: [{ name: 'docker', hosts: ['127.0.0.1'], preset: 'docker', upstream: origin.url }] });
    app = createApp(config, { client: makeClient(), log: (entry) => log.push(entry), healthLog: () => {} });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
    await new Promise<void>((done) => (server.listening ? done() : server.once('listening', () => done())));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    app?.stop();
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done));
    await origin?.close();
  });

  it.each(['with Content-Length', 'chunked'])('%s: the client sees an error, not a clean short body', async (kind) => {
    const path = `/v2/a/blobs/sha256:${'0'.repeat(64)}${kind === 'chunked' ? '?chunked' : ''}`;
    const res = await request(`${url}${path}`);
    expect(res.statusCode).toBe(200);
    let bytes = 0;
    const read = (async () => {
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    })();
    await expect(read).rejects.toThrow();
    expect(bytes).toBeLessThan(8 * MiB);
    expect(bytes).toBeGreaterThan(0);
    await until(() => log.some((e) => e.path === path.split('?')[0]));
    const entry = log.find((e) => e.path === path.split('?')[0])!;
    expect(entry.error).toMatch(/^response body/);
  });
});

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
