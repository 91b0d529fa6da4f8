/**
 * The floor of a Node proxy (bench/floor.ts): node:http in, undici's `request` out to one origin,
 * nothing else: no routing, no header passes, no Fetch-API objects, no logging. Whatever a proxy
 * on Node does on top costs more than this.
 *
 *   node bench/floor-proxy.mjs PORT ORIGIN_URL
 */
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const [port, origin] = [Number(process.argv[2]), process.argv[3]];
const agent = new Agent();
createServer(async (incoming, outgoing) => {
  try {
    const answer = await request(origin + incoming.url, { method: incoming.method, headers: incoming.headers, dispatcher: agent, reset: false });
    const body = incoming.method === 'HEAD' ? (answer.body.dump(), null) : Buffer.from(await answer.body.arrayBuffer());
    outgoing.writeHead(answer.statusCode, answer.headers);
    outgoing.end(body);
  } catch {
    outgoing.writeHead(502).end();
  }
}).listen(port, '127.0.0.1');
