/**
 * The Hono floor of Node (bench/floor.ts): the router's fixed shape with nothing in it. A Hono app
 * on the Fetch API served by @hono/node-server (as the router is), whose one handler builds the
 * upstream request the way a Fetch app must (method, path and query from `c.req.raw.url`, headers
 * copied from `c.req.raw.headers`), sends it with undici's `request` (as bench/floor-proxy.mjs),
 * reads an answer up to 64 KiB whole and returns `new Response(bytes, { status, headers })` with
 * the headers as a plain object; a larger answer's body goes back as a web stream. No routing, no
 * header passes, no logging: what this costs above floor-proxy.mjs is the Fetch/Hono shape.
 *
 *   node bench/floor-hono-node.mjs PORT ORIGIN_URL
 */
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Agent, request } from 'undici';

const SMALL = 64 * 1024;
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);
const [port, origin] = [Number(process.argv[2]), process.argv[3]];
const agent = new Agent();
const app = new Hono();
app.all('*', async (c) => {
  const req = c.req.raw;
  const url = req.url;
  const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
  const headers = {};
  for (const [name, value] of req.headers) if (!HOP.has(name)) headers[name] = value;
  const bodiless = req.method === 'GET' || req.method === 'HEAD';
  try {
    const answer = await request(origin + path, {
      method: req.method,
      headers,
      body: bodiless || !req.body ? undefined : Readable.fromWeb(req.body),
      dispatcher: agent,
      reset: false,
    });
    const out = {};
    for (const [name, value] of Object.entries(answer.headers)) if (!HOP.has(name)) out[name] = value;
    const length = Number(answer.headers['content-length'] ?? Number.NaN);
    if (req.method === 'HEAD' || answer.statusCode === 204 || answer.statusCode === 304) {
      await answer.body.dump();
      return new Response(null, { status: answer.statusCode, headers: out });
    }
    // A Uint8Array, not the ArrayBuffer: node-server writes only string and Uint8Array bodies without a Fetch Response.
    if (length <= SMALL) return new Response(new Uint8Array(await answer.body.arrayBuffer()), { status: answer.statusCode, headers: out });
    return new Response(Readable.toWeb(answer.body), { status: answer.statusCode, headers: out });
  } catch {
    return new Response(null, { status: 502 });
  }
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => console.error(`listening on ${port}`));
