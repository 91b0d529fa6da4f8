/**
 * The floor of a Node proxy (bench/floor.ts): node:http in, undici's `request` out to one origin,
 * nothing else: no routing, no header passes, no Fetch-API objects, no logging. Whatever a proxy
 * on Node does on top costs more than this. Forwards method, path and headers; an answer with a
 * Content-Length up to 64 KiB is read whole and written in one `end()` (the cheapest way for a
 * manifest), anything else is piped (a blob). Under Bun (`bun bench/floor-proxy.mjs`) the same
 * code runs on Bun's node:http and Bun's built-in `undici` (a stand-in over its fetch, whatever node_modules holds).
 *
 *   node bench/floor-proxy.mjs PORT ORIGIN_URL
 */
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';
import { Agent, request } from 'undici';

const SMALL = 64 * 1024;
const [port, origin] = [Number(process.argv[2]), process.argv[3]];
const agent = new Agent();
createServer(async (incoming, outgoing) => {
  try {
    const answer = await request(origin + incoming.url, { method: incoming.method, headers: incoming.headers, dispatcher: agent, reset: false });
    const length = Number(answer.headers['content-length'] ?? Number.NaN);
    if (incoming.method === 'HEAD') {
      // Bun's undici has no dump(): resume() drains the (empty) body there.
      if (answer.body.dump) answer.body.dump();
      else answer.body.resume();
      outgoing.writeHead(answer.statusCode, answer.headers);
      outgoing.end();
      return;
    }
    if (length <= SMALL) {
      const body = Buffer.from(await answer.body.arrayBuffer());
      outgoing.writeHead(answer.statusCode, answer.headers);
      outgoing.end(body);
      return;
    }
    outgoing.writeHead(answer.statusCode, answer.headers);
    pipeline(answer.body, outgoing, () => {});
  } catch {
    if (!outgoing.headersSent) outgoing.writeHead(502);
    outgoing.end();
  }
}).listen(port, '127.0.0.1', () => console.error(`listening on ${port}`));
