/**
 * The floor of a Deno proxy (bench/floor.ts): `Deno.serve` in, `fetch` out to one origin through
 * a `Deno.createHttpClient({ allowHost: true })` client (so the Host header goes through), and the
 * origin's Response handed back untouched, so Deno forwards the body in Rust. No routing, header
 * passes or logging: forwards method, path, headers and the request body.
 *
 *   deno run --allow-net bench/floor-deno.mjs PORT ORIGIN_URL
 */
const [port, origin] = [Number(Deno.args[0]), Deno.args[1]];
const client = Deno.createHttpClient({ allowHost: true });
Deno.serve({ hostname: '127.0.0.1', port, onListen: () => console.error(`listening on ${port}`) }, (req) => {
  const url = new URL(req.url);
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
  return fetch(origin + url.pathname + url.search, { method: req.method, headers: req.headers, body, client, redirect: 'manual' }).catch(
    () => new Response(null, { status: 502 }),
  );
});
