import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The User-Agent of the router's active health checks (src/upstream/health.ts). */
export const HEALTH_CHECK_AGENT = 'registry-router-health-check';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  /** True when the body ended normally; false when the connection was cut mid-body. */
  complete: boolean;
}

/**
 * A small in-process HTTP origin for the header and edge cases a real registry cannot produce.
 * Every request it saw is recorded (after its body finished or broke off), but for the router's
 * health checks unless `healthChecks` is set (they run in the background, on by default).
 */
export async function startOrigin(handler: (req: IncomingMessage, res: ServerResponse) => void, options: { healthChecks?: boolean } = {}) {
  const seen: SeenRequest[] = [];
  const settled: Array<() => void> = [];
  const server = createServer((req, res) => {
    let bodyBytes = 0;
    const record = (complete: boolean) => {
      if (seen.some((s) => s.headers === req.headers)) return;
      // The router's own health checks (on by default) are not requests a client caused; `healthChecks` keeps them.
      if (!options.healthChecks && req.headers['user-agent'] === HEALTH_CHECK_AGENT) return;
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes, complete });
      settled.splice(0).forEach((notify) => notify());
    };
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => record(true));
    req.on('close', () => record(req.complete));
    handler(req, res);
  });
  // Idle connections kept as long as nginx's keepalive_timeout (75 s), not Node's 5 s: a router that reuses
  // one after a pause between tests (workerd's fetch does not retry a POST) never races its close.
  server.keepAliveTimeout = 75_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** Resolves once `count` requests have been recorded. */
    async waitFor(count: number, ms = 10_000): Promise<SeenRequest> {
      const deadline = Date.now() + ms;
      while (seen.length < count) {
        if (Date.now() > deadline) throw new Error(`origin saw ${seen.length} requests, expected ${count}`);
        await new Promise<void>((done) => {
          settled.push(done);
          setTimeout(done, 100);
        });
      }
      return seen[count - 1]!;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
