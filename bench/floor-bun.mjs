/**
 * The floor of a Bun proxy (bench/floor.ts): `Bun.serve` in, Bun's `fetch` out to one origin
 * (`decompress: false`), and the origin's Response handed back untouched, so Bun pipes the body
 * natively with no JavaScript per chunk. No routing, header passes or logging: forwards method,
 * path, headers and the request body.
 *
 *   bun bench/floor-bun.mjs PORT ORIGIN_URL
 */
const [port, origin] = [Number(process.argv[2]), process.argv[3]];
Bun.serve({
  hostname: '127.0.0.1',
  port,
  idleTimeout: 0,
  fetch(req) {
    const url = new URL(req.url);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
    return fetch(origin + url.pathname + url.search, { method: req.method, headers: req.headers, body, decompress: false, redirect: 'manual' }).catch(
      () => new Response(null, { status: 502 }),
    );
  },
});
console.error(`listening on ${port}`);
