import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { undiciClient } from '../../src/forward/undici-client.ts';

// Failover drops a failed answer's body right after its headers. With Readable.toWeb, Node 20 then
// threw an uncaught ERR_INVALID_STATE a moment later (vitest fails a run on unhandled errors).
it('cancelling an undici answer body right after its headers leaves no error behind', async () => {
  const origin = createServer((_req, res) => res.writeHead(503, { 'content-length': 200_000 }).end(Buffer.alloc(200_000, 1)));
  await new Promise<void>((done) => origin.listen(0, '127.0.0.1', done));
  const client = undiciClient({ idle: 10, connect: 5 });
  const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/v2/`;
  try {
    for (let i = 0; i < 5; i++) {
      const answer = await client.send({ url, method: 'GET', headers: new Headers(), body: null, signal: new AbortController().signal });
      expect(answer.status).toBe(503);
      expect(answer.body).toBeInstanceOf(ReadableStream);
      await (answer.body as ReadableStream).cancel();
    }
    await new Promise((done) => setTimeout(done, 300));
  } finally {
    await client.close?.();
    origin.closeAllConnections();
    origin.close();
  }
});
