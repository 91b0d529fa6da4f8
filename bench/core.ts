/**
 * The core's own cost per small GET/HEAD, without sockets: `app.fetch` on a docker site whose
 * upstream client returns a canned manifest answer at once. What it measures: Hono's dispatch, the
 * guard, site and rule, outgoing and incoming passes, the answer and its access-log entry, plus
 * making the Fetch-API Request and Response (which @hono/node-server makes lighter on a real
 * listener). Use it with `node --import tsx --cpu-prof` to see the core's share alone.
 *
 *   npx tsx bench/core.ts
 */
import { createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/load.ts';
import { MANIFEST, MANIFEST_TYPE } from './procs.ts';
const config = parseConfig({
  listen: { host: '127.0.0.1', port: 1 },
  accessLog: false,
  sites: [{ name: 'static', hosts: ['static.bench'], preset: 'docker', upstream: 'http://127.0.0.1:9/' }],
} as never);
const client = {
  async send(o: { method: string }) {
    const headers = new Headers({
      'content-type': MANIFEST_TYPE,
      'content-length': String(MANIFEST.length),
      'docker-content-digest': 'sha256:abc',
      etag: '"x"',
      server: 'nginx',
      date: 'x',
      connection: 'keep-alive',
    });
    return { status: 200, statusText: 'OK', headers, body: o.method === 'HEAD' ? null : new Uint8Array(MANIFEST) };
  },
};
const app = createApp(config, { client: client as never, log: () => {}, clientAddress: () => '127.0.0.1', healthLog: () => {} });
const make = (method: string) =>
  new Request('http://static.bench/v2/bench/static/manifests/latest', {
    method,
    headers: { host: 'static.bench', accept: MANIFEST_TYPE, 'user-agent': 'wrk', connection: 'keep-alive' },
  });
for (const method of ['GET', 'HEAD', 'GET', 'HEAD']) {
  const n = 50_000;
  for (let i = 0; i < 5000; i++) await app.fetch(make(method));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = await app.fetch(make(method));
    if (r.status !== 200) throw new Error(String(r.status));
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${method} ${(ns / 1000).toFixed(2)} µs/request (incl. making the Request)`);
}
const t0 = process.hrtime.bigint();
for (let i = 0; i < 50_000; i++) make('GET');
console.log(`making a Request alone: ${(Number(process.hrtime.bigint() - t0) / 50_000 / 1000).toFixed(2)} µs`);
app.stop();
process.exit(0);
