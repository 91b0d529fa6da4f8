/**
 * The Hono floor of Bun (bench/floor.ts): the router's fixed shape with nothing in it. A Hono app
 * served by `Bun.serve({ fetch: app.fetch })` (as src/bun.ts serves the router), whose one handler
 * fetches from one origin (`decompress: false`) and either hands the origin's Response back
 * untouched (Bun pipes the body natively), or with `copy` does what the router must to edit
 * headers: an answer up to 64 KiB is read whole and returned as a new Response with a copy of the
 * origin's headers (a larger one keeps its body stream). No routing, header passes or logging.
 *
 *   bun bench/floor-hono-bun.mjs PORT ORIGIN_URL [copy]
 */
import { Hono } from 'hono';

const SMALL = 64 * 1024;
const [port, origin, copy] = [Number(process.argv[2]), process.argv[3], process.argv[4] === 'copy'];
const app = new Hono();
app.all('*', async (c) => {
  const req = c.req.raw;
  const url = new URL(req.url);
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
  let answer;
  try {
    answer = await fetch(origin + url.pathname + url.search, { method: req.method, headers: req.headers, body, decompress: false, redirect: 'manual' });
  } catch {
    return new Response(null, { status: 502 });
  }
  if (!copy) return answer;
  const headers = new Headers(answer.headers);
  const length = Number(answer.headers.get('content-length') ?? Number.NaN);
  if (req.method === 'HEAD' || answer.status === 204 || answer.status === 304) {
    await answer.body?.cancel();
    return new Response(null, { status: answer.status, headers });
  }
  if (length <= SMALL) return new Response(await answer.arrayBuffer(), { status: answer.status, headers });
  return new Response(answer.body, { status: answer.status, headers });
});
Bun.serve({ hostname: '127.0.0.1', port, idleTimeout: 0, fetch: app.fetch });
console.error(`listening on ${port}`);
