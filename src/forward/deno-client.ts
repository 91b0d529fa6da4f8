import http from 'node:http';
import https from 'node:https';
import { nodeToWeb } from '../stream/node-to-web.ts';
import { chunkReader } from '../stream/tap.ts';
import { UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { IdleTimer } from './idle-timer.ts';
import { failureText } from './net-errors.ts';

/**
 * Deno's upstream client, on Deno's `node:http`/`node:https` client rather than its fetch.
 *
 * Why not fetch (the facts, checked on Deno 2.9.6 and on Deno's tracker):
 * - fetch drops a caller's `Content-Length` whenever the body is a ReadableStream and sends it
 *   `Transfer-Encoding: chunked` (denoland/deno#20274, #24197; the fix, #35109, is not released):
 *   an upload declared 300,000 bytes reached the origin chunked, and origins that answer 411 to
 *   chunked bodies broke. `http.request` with a `Content-Length` header writes exactly that framing
 *   while the body streams through, chunk by chunk, with backpressure (`write` → `drain`).
 * - fetch decodes gzip/br unless asked for `identity`, and replaces the reason phrase with the
 *   canonical one; `node:http` passes the bytes and the status line as the origin sent them, so the
 *   client's own `Accept-Encoding` goes upstream unchanged.
 * - fetch needs `Deno.createHttpClient({ allowHost: true })` to send the caller's Host; `node:http`
 *   sends the `host` header it is given.
 *
 * What it keeps of the other clients' contract (src/forward/client.ts): nothing decoded, no
 * redirects followed (node:http never follows any), `timeouts.idle` as "no byte moved for that long"
 * (IdleTimer, touched per chunk each way), `timeouts.connect` for new connections only, keep-alive
 * connections reused per origin (one Agent per scheme), and an upload that fails (client gone, over
 * the site's cap, longer or shorter than declared) destroys the upstream socket, so the origin sees
 * a truncated body as broken, never as whole. Failures are named by net-errors.ts (`ECONNREFUSED`,
 * `ENOTFOUND`, … come as Node codes) and thrown as UpstreamError: `unreachable` → 502, `timeout` → 504.
 *
 * @param timeouts seconds: `idle` without progress, `connect` to open a connection.
 * @returns an UpstreamClient; `close()` destroys the pooled connections.
 */
export function denoClient(timeouts: ClientTimeouts): UpstreamClient {
  const idleMs = timeouts.idle * 1000;
  const connectMs = timeouts.connect * 1000;
  // LIFO: the connection used last is warm and least likely to have been closed by the origin.
  const agents = {
    'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
  };

  return {
    send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const url = new URL(outgoing.url);
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      const headers: Record<string, string> = {};
      outgoing.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const body = outgoing.body;
      const declared = headers['content-length'];
      // Passes drop the client's Transfer-Encoding (hop-by-hop): a body without a length goes chunked.
      if (body && declared === undefined) headers['transfer-encoding'] = 'chunked';

      return new Promise<UpstreamResponse>((resolve, reject) => {
        const idle = new IdleTimer(idleMs, outgoing.signal);
        let settled = false;
        let connectTimedOut = false;
        let uploadError: unknown;
        let connectTimer: ReturnType<typeof setTimeout> | undefined;

        const request = (url.protocol === 'https:' ? https : http).request({
          protocol: url.protocol,
          hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
          port: url.port || (url.protocol === 'https:' ? 443 : 80),
          path: url.pathname + url.search,
          method: outgoing.method,
          headers,
          agent,
        });

        const fail = (error: unknown) => {
          if (settled) return;
          settled = true;
          idle.stop();
          clearTimeout(connectTimer);
          if (outgoing.signal.aborted) return reject(outgoing.signal.reason ?? error);
          if (uploadError !== undefined) return reject(uploadError);
          if (connectTimedOut) return reject(new UpstreamError('timeout', `${url.host}: timed out connecting after ${timeouts.connect} s (timeouts.connect)`, { cause: error }));
          if (idle.fired) return reject(new UpstreamError('timeout', `${url.host}: no answer within ${timeouts.idle} s (timeouts.idle)`, { cause: error }));
          // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
          const failure = failureText(error, outgoing.url);
          reject(new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error }));
        };

        // Client gone or no byte moved for idleMs: the socket goes, with whatever was half sent.
        const onAbort = () => request.destroy(idle.signal.reason instanceof Error ? idle.signal.reason : new Error('aborted'));
        idle.signal.addEventListener('abort', onAbort, { once: true });
        request.on('error', fail);

        request.on('socket', (socket) => {
          // A pooled socket is connected already; only a new one gets the connect timeout.
          if (!(socket as { connecting?: boolean }).connecting) return;
          connectTimer = setTimeout(() => {
            connectTimedOut = true;
            request.destroy(new Error('connect timeout'));
          }, connectMs);
          socket.once('connect', () => clearTimeout(connectTimer));
        });

        request.on('response', (response) => {
          clearTimeout(connectTimer);
          if (settled) {
            response.destroy();
            return;
          }
          settled = true;
          idle.touch();
          const responseHeaders = new Headers();
          const raw = response.rawHeaders;
          for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
          const status = response.statusCode ?? 502;
          const base = { status, statusText: response.statusMessage ?? '', headers: responseHeaders };
          if (outgoing.method === 'HEAD' || status === 204 || status === 304) {
            // Nothing follows these headers; reading to the end hands the socket back to the pool.
            response.resume();
            response.once('end', () => idle.stop());
            response.once('close', () => idle.stop());
            return resolve({ ...base, body: null });
          }
          // A failure mid-body errors the stream the app is reading (the client sees a cut transfer).
          response.on('error', () => {});
          resolve({ ...base, body: idle.watch(nodeToWeb(response), () => idle.stop()) });
        });

        if (!body) {
          request.end();
          return;
        }
        void pump(body, request, declared === undefined ? undefined : Number(declared), () => idle.touch()).catch((error: unknown) => {
          uploadError = error;
          request.destroy(error instanceof Error ? error : new Error(String(error)));
        });
      });
    },
    async close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/**
 * Streams `body` into the request: one `write` per chunk, waiting for `drain` when the socket's
 * buffer is full, so at most a chunk or two is held. With a declared length, more or fewer bytes
 * than declared throw (the caller destroys the socket) instead of ending the request: a short
 * body ended cleanly would leave the origin waiting, a long one would smuggle bytes into the next
 * request on the connection.
 */
async function pump(body: ReadableStream<Uint8Array>, request: http.ClientRequest, declared: number | undefined, onChunk: () => void): Promise<void> {
  const reader = chunkReader(body);
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (request.destroyed) throw new Error('upstream request closed');
      total += value.byteLength;
      if (declared !== undefined && total > declared) throw new Error(`request body longer than its Content-Length of ${declared} bytes`);
      onChunk();
      if (!request.write(value)) await drained(request);
    }
  } catch (error) {
    void reader.cancel(error).catch(() => {});
    throw error;
  }
  if (declared !== undefined && total !== declared) throw new Error(`request body ended at ${total} of its Content-Length of ${declared} bytes`);
  request.end();
}

function drained(request: http.ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', closed);
      resolve();
    };
    const closed = () => {
      request.off('drain', done);
      reject(new Error('upstream request closed'));
    };
    request.once('drain', done);
    request.once('close', closed);
  });
}
