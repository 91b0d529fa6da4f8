/**
 * The Hono floor of Deno (bench/floor.ts): the router's fixed shape with nothing in it. A Hono app
 * served by `Deno.serve(app.fetch)` (as src/deno.ts serves the router), whose one handler fetches
 * from one origin through a `Deno.createHttpClient({ allowHost: true })` client and either hands
 * the origin's Response back untouched (Deno forwards the body in Rust), or with `copy` does what
 * the router must to edit headers: an answer up to 64 KiB is read whole and returned as a new
 * Response with a copy of the origin's headers (a larger one keeps its body stream). `hono`
 * resolves from node_modules through the repo's package.json, as it does for src/deno.ts.
 *
 *   deno run --allow-net --allow-read --allow-env bench/floor-hono-deno.mjs PORT ORIGIN_URL [copy]
 */
import { Hono } from 'hono';

const SMALL = 64 * 1024;
const [port, origin, copy] = [Number(Deno.args[0]), Deno.args[1], Deno.args[2] === 'copy'];
const client = Deno.createHttpClient({ allowHost: true });
const app = new Hono();
app.all('*', async (c) => {
  const req = c.req.raw;
  const url = new URL(req.url);
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
  let answer;
  try {
    answer = await fetch(origin + url.pathname + url.search, { method: req.method, headers: req.headers, body, client, redirect: 'manual' });
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
Deno.serve({ hostname: '127.0.0.1', port, onListen: () => console.error(`listening on ${port}`) }, app.fetch);
