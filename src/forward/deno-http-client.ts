import http from 'node:http';
import https from 'node:https';
import { chunkReader } from '../stream/tap.ts';
import { smallBodyLength, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import type { ExternalMemoryGuard } from './memory-guard.ts';
import type { IdleSweep } from './idle.ts';
import { SmallBody } from '../stream/small-body.ts';
import { idleCut, upstreamError } from './upstream-error.ts';

/**
 * Deno's client for requests with a body (uploads), through Deno's `node:http`/`node:https`,
 * which writes the declared `Content-Length` while the body streams through chunk by chunk with
 * backpressure (`write` → `drain`); Deno's fetch would send it chunked (see deno-client.ts).
 * Upload answers are small: `node:http` passes them undecoded, with the origin's reason phrase.
 *
 * It moves bytes only: idle timing is the caller's IdleSweep, small answers are read by
 * stream/small-body.ts, failures worded by forward/upstream-error.ts; `timeouts.connect` for new
 * connections; keep-alive connections reused per origin (one Agent per scheme, LIFO). An upload
 * that fails (client gone, over the site's cap, longer or shorter than declared) destroys the
 * upstream socket, so the origin sees a truncated body as broken, never as whole. Bytes streamed
 * either way are counted by `memory`.
 *
 * @param timeouts seconds: `idle` without progress, `connect` to open a connection.
 * @returns an UpstreamClient; `close()` destroys the pooled connections and stops `sweep`.
 */
export function denoHttpClient(timeouts: ClientTimeouts, sweep: IdleSweep, memory: ExternalMemoryGuard): UpstreamClient {
  const connectMs = timeouts.connect * 1000;
  // LIFO: the connection used last is warm and least likely to have been closed by the origin.
  const agents = {
    http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    https: new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
  };
  // Scheme, host and port per upstream origin, parsed once (outgoing.url is always absolute).
  const origins = new Map<string, OriginAddress>();

  const target = (url: string): { target: OriginAddress; path: string } => {
    const slash = url.indexOf('/', url.indexOf('//') + 2);
    const origin = slash < 0 ? url : url.slice(0, slash);
    let known = origins.get(origin);
    if (!known) {
      const parsed = new URL(origin);
      const secure = parsed.protocol === 'https:';
      known = {
        secure,
        host: parsed.host,
        // node:http wants an IPv6 literal without its brackets.
        hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(parsed.port) || (secure ? 443 : 80),
      };
      if (origins.size < 1024) origins.set(origin, known);
    }
    return { target: known, path: slash < 0 ? '/' : url.slice(slash) };
  };

  return {
    send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const { target: to, path } = target(outgoing.url);
      const { signal } = outgoing;
      const headers: Record<string, string> = {};
      outgoing.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const body = outgoing.body;
      const declared = headers['content-length'];
      // Passes drop the client's Transfer-Encoding (hop-by-hop): a body without a length goes chunked.
      if (body && declared === undefined) headers['transfer-encoding'] = 'chunked';
      const bodiless = outgoing.method === 'HEAD';

      return new Promise<UpstreamResponse>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        let settled = false;
        let done = false;
        let connectTimedOut = false;
        let uploadError: unknown;
        let connectTimer: ReturnType<typeof setTimeout> | undefined;
        // The answer's body while it streams (large answers only).
        let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
        // Deno's node:http (2.9) still opens the connection, and keeps it open, when a request is
        // destroyed before its socket is assigned (the next tick): a cut waits for the socket.
        let hasSocket = false;
        let pendingCut: Error | undefined;
        const cut = (error: Error) => {
          if (hasSocket) request.destroy(error);
          else pendingCut ??= error;
        };

        const request = (to.secure ? https : http).request({
          protocol: to.secure ? 'https:' : 'http:',
          hostname: to.hostname,
          port: to.port,
          path,
          method: outgoing.method,
          headers,
          agent: to.secure ? agents.https : agents.http,
        });

        /** The exchange is over (answer read, or failed): no more idle checks, no abort listener. */
        const finish = () => {
          if (done) return;
          done = true;
          transfer.end();
          clearTimeout(connectTimer);
          // Deno.serve aborts request.signal once the answer is sent: by then this must not cut a pooled socket.
          signal.removeEventListener('abort', onAbort);
        };
        const fail = (error: unknown) => {
          finish();
          if (settled) {
            try {
              stream?.error(error);
            } catch {
              // Closed already, or the reader cancelled.
            }
            return;
          }
          settled = true;
          if (signal.aborted) return reject(signal.reason ?? error);
          if (uploadError !== undefined) return reject(uploadError);
          reject(upstreamError(small ? small.brokeOff(error) : error, outgoing.url, timeouts, { idle: transfer.expired, connect: connectTimedOut }));
        };
        const transfer = sweep.start(() => cut(idleCut(timeouts)));
        // Set while a small answer is read whole.
        let small: SmallBody | undefined;
        // The client went away: the socket goes, with whatever was half sent.
        const onAbort = () => cut(signal.reason instanceof Error ? signal.reason : new Error('the client went away'));
        signal.addEventListener('abort', onAbort, { once: true });
        request.on('error', fail);

        request.on('socket', (socket) => {
          hasSocket = true;
          if (pendingCut) return void request.destroy(pendingCut);
          // A pooled socket is connected already; only a new one gets the connect timeout.
          if (!(socket as { connecting?: boolean }).connecting) return;
          connectTimer = setTimeout(() => {
            connectTimedOut = true;
            request.destroy(new Error('connect timeout'));
          }, connectMs);
          socket.once('connect', () => clearTimeout(connectTimer));
        });

        request.on('response', (answer: http.IncomingMessage) => {
          clearTimeout(connectTimer);
          transfer.touch();
          const raw = answer.rawHeaders;
          const responseHeaders = new Headers();
          for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
          const status = answer.statusCode ?? 502;
          const response: UpstreamResponse = { status, statusText: answer.statusMessage ?? '', headers: responseHeaders, body: null };
          answer.on('error', fail);
          answer.on('aborted', () => fail(new Error('the answer broke off')));
          if (bodiless || status === 204 || status === 304) {
            // Nothing follows these headers: the exchange is over now, before Deno.serve sends the
            // answer and aborts request.signal (which would cut this socket while the 'end' event is
            // still queued). Reading to the end hands the socket back to the pool.
            finish();
            answer.resume();
            settled = true;
            return resolve(response);
          }
          const length = smallBodyLength(responseHeaders);
          if (length !== undefined) {
            // Manifests, tags, tokens, errors: read whole (stream/small-body.ts, no web stream), then answered.
            const whole = new SmallBody(length);
            small = whole;
            answer.on('data', (chunk: Buffer) => {
              transfer.touch();
              const over = whole.add(chunk);
              if (over) request.destroy(over);
            });
            answer.on('end', () => {
              if (settled) return;
              let bytes: Uint8Array;
              try {
                bytes = whole.bytes();
              } catch (error) {
                return fail(error);
              }
              finish();
              settled = true;
              response.body = bytes;
              resolve(response);
            });
            return;
          }
          let paused = false;
          response.body = new ReadableStream<Uint8Array>(
            {
              start(controller) {
                stream = controller;
              },
              pull() {
                // The reader asking for more is progress too (a slow client, not a stalled upstream).
                transfer.touch();
                if (paused) {
                  paused = false;
                  answer.resume();
                }
              },
              cancel(reason) {
                finish();
                // Destroys the connection when the answer was not read to its end.
                request.destroy(reason instanceof Error ? reason : undefined);
              },
            },
            { highWaterMark: BODY_BUFFER, size: (chunk) => chunk.byteLength },
          );
          answer.on('data', (chunk: Buffer) => {
            transfer.touch();
            if (done) return;
            memory.streamed(chunk.byteLength);
            stream!.enqueue(chunk);
            if ((stream!.desiredSize ?? 1) <= 0 && !paused) {
              paused = true;
              answer.pause();
            }
          });
          answer.on('end', () => {
            if (done) return;
            finish();
            try {
              stream!.close();
            } catch {
              // The reader cancelled already.
            }
          });
          settled = true;
          resolve(response);
        });

        if (!body) {
          request.end();
          return;
        }
        void pump(body, request, declared === undefined ? undefined : Number(declared), (bytes) => {
          transfer.touch();
          memory.streamed(bytes);
        }).catch((error: unknown) => {
          uploadError = error;
          cut(error instanceof Error ? error : new Error(String(error)));
        });
      });
    },
    async close() {
      sweep.stop();
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** Bytes of a large answer held ahead of the client before the upstream socket is paused. */
const BODY_BUFFER = 256 * 1024;

interface OriginAddress {
  secure: boolean;
  /** `host:port` as in the URL, for messages. */
  host: string;
  hostname: string;
  port: number;
}

/**
 * Streams `body` into the request: one `write` per chunk, waiting for `drain` when the socket's
 * buffer is full, so at most a chunk or two is held. Whatever it waits for (the client's next
 * chunk, or `drain`) it stops waiting when the upstream request closes, and cancels the client's
 * body, so a dead upstream frees the client's connection at once. With a declared length, more or
 * fewer bytes than declared throw (the caller destroys the socket) instead of ending the request:
 * a short body ended cleanly would leave the origin waiting, a long one would smuggle bytes into
 * the next request on the connection.
 */
async function pump(
  body: ReadableStream<Uint8Array>,
  request: http.ClientRequest,
  declared: number | undefined,
  onChunk: (bytes: number) => void,
): Promise<void> {
  const reader = chunkReader(body);
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await unlessClosed(request, reader.read());
      if (done) break;
      total += value.byteLength;
      if (declared !== undefined && total > declared) throw new Error(`request body longer than its Content-Length of ${declared} bytes`);
      onChunk(value.byteLength);
      if (!request.write(value)) await unlessClosed(request, new Promise<void>((resolve) => request.once('drain', resolve)));
    }
  } catch (error) {
    void reader.cancel(error).catch(() => {});
    throw error;
  }
  if (declared !== undefined && total !== declared) throw new Error(`request body ended at ${total} of its Content-Length of ${declared} bytes`);
  request.end();
}

/**
 * `work`, or a rejection as soon as the upstream request closes. A listener per wait, removed
 * after it: a `Promise.race` against one long-lived "closed" promise would keep every chunk read
 * reachable from that promise until the upload ends (measured: RSS grew by the bytes uploaded).
 */
function unlessClosed<T>(request: http.ClientRequest, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onClose = () => reject(new Error('upstream request closed'));
    if (request.destroyed) return onClose();
    request.once('close', onClose);
    work.then(
      (value) => {
        request.off('close', onClose);
        resolve(value);
      },
      (error: unknown) => {
        request.off('close', onClose);
        reject(error);
      },
    );
  });
}
