import http from 'node:http';
import https from 'node:https';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chunkReader, tapStream } from '../stream/tap.ts';
import { smallBodyLength, UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { failureText } from './net-errors.ts';
import { readUpTo } from '../stream/read-up-to.ts';

/** The little of Deno's API used here (tsc runs with Node's types; `deno check` knows the real ones). */
declare const Deno: { createHttpClient(options: { allowHost?: boolean }): object; memoryUsage(): { external: number } };

/**
 * Deno's upstream client: requests with a body go through Deno's `node:http`/`node:https` client,
 * requests without one through Deno's fetch. Facts checked on Deno 2.9.6 and on Deno's tracker:
 *
 * - Deno's fetch drops a caller's `Content-Length` whenever the body is a ReadableStream and sends
 *   it `Transfer-Encoding: chunked` (denoland/deno#20274, #24197; the fix, #35109, is unreleased):
 *   an upload declared 300,000 bytes reached the origin chunked, and origins that answer 411 to
 *   chunked bodies broke. It also read chunked uploads at ~12 MiB/s here. `http.request` with a
 *   `Content-Length` header writes exactly that framing while the body streams through, chunk by
 *   chunk, with backpressure (`write` → `drain`): measured ~900 MiB/s with a length, ~600 chunked.
 * - Reading answers, `node:http` costs memory: each 64 KiB read is a fresh buffer and the garbage
 *   outruns V8's collector (a 1 GiB blob GET took the router to ~470 MiB RSS, against ~160 MiB
 *   through fetch, whose answers stream from Rust). Bodiless requests (GET, HEAD: blobs, manifests)
 *   therefore stay on fetch, with `accept-encoding: identity` (Deno's fetch decodes gzip/br unless
 *   the request asks for identity) and `Deno.createHttpClient({ allowHost: true })` (else it
 *   replaces the caller's Host with the URL's). Upload answers are small: `node:http` passes them
 *   undecoded, with the origin's reason phrase.
 *
 * What it keeps of the other clients' contract (src/forward/client.ts): nothing decoded, no
 * redirects followed, `timeouts.idle` as "no byte moved for that long" (IdleSweep, below),
 * `timeouts.connect` for new `node:http` connections, keep-alive connections reused per origin
 * (one Agent per scheme; fetch's own pool), answers of at most SMALL_BODY declared bytes read whole,
 * and an upload that fails (client gone, over the site's cap, longer or shorter than declared)
 * destroys the upstream socket, so the origin sees a truncated body as broken, never as whole.
 * Streamed bodies pass their byte counts to an ExternalMemoryGuard (below), which keeps dead
 * body chunks from piling up in memory between V8's own collections.
 * Failures are named by net-errors.ts (`ECONNREFUSED`, `ENOTFOUND`, … as Node codes from
 * `node:http`, hyper's messages from fetch) and thrown as UpstreamError: `unreachable` → 502,
 * `timeout` → 504.
 *
 * @param timeouts seconds: `idle` without progress, `connect` to open a connection.
 * @returns an UpstreamClient; `close()` destroys the pooled `node:http` connections.
 */
export function denoClient(timeouts: ClientTimeouts): UpstreamClient {
  const connectMs = timeouts.connect * 1000;
  const memory = new ExternalMemoryGuard(() => Deno.memoryUsage().external, fullCollection());
  const idle = new IdleSweep(timeouts.idle * 1000);
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

  // Deno's fetch replaces a caller's Host with the URL's unless its client allows it.
  const fetchClient = Deno.createHttpClient({ allowHost: true });

  /** Requests without a body: Deno's fetch (its answers stream from Rust; see the module doc). */
  const sendFetch = async (outgoing: OutgoingRequest): Promise<UpstreamResponse> => {
    const { signal } = outgoing;
    if (signal.aborted) throw signal.reason;
    const controller = new AbortController();
    let idleFired = false;
    const transfer: Transfer = {
      last: Date.now(),
      expire() {
        idleFired = true;
        controller.abort(new Error(`no byte moved for ${timeouts.idle} s (timeouts.idle)`));
      },
    };
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    idle.add(transfer);
    // Over once the answer is read: Deno.serve aborts request.signal after answering, harmlessly by then.
    const finish = () => {
      idle.delete(transfer);
      signal.removeEventListener('abort', onAbort);
    };
    const failed = (error: unknown): unknown => {
      finish();
      if (signal.aborted) return signal.reason ?? error;
      if (idleFired)
        return new UpstreamError('timeout', `${new URL(outgoing.url).host}: no answer within ${timeouts.idle} s (timeouts.idle)`, { cause: error });
      // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
      const failure = failureText(error, outgoing.url);
      return new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error });
    };
    // Deno's fetch decodes gzip/br (keeping Content-Encoding/Length) unless the request asks for identity.
    outgoing.headers.set('accept-encoding', 'identity');
    // A record, not the Headers object: Deno's fetch converts a Headers init through its generic
    // iterator path (measured ~14 µs a request, a record ~6 µs).
    const headers: Record<string, string> = {};
    outgoing.headers.forEach((value, name) => {
      headers[name] = value;
    });
    let answer: Response;
    try {
      answer = await fetch(outgoing.url, {
        method: outgoing.method,
        headers,
        redirect: 'manual',
        signal: controller.signal,
        client: fetchClient,
      } as RequestInit);
    } catch (error) {
      throw failed(error);
    }
    transfer.last = Date.now();
    const status = answer.status;
    // A fetch answer's headers are immutable and the incoming passes edit them: a copy, by append
    // (`new Headers(headers)` takes Deno's generic iterator path: ~11 µs for ten fields, append ~2 µs).
    const copy = new Headers();
    answer.headers.forEach((value, name) => copy.append(name, value));
    const response: UpstreamResponse = { status, statusText: answer.statusText, headers: copy, body: null };
    if (!answer.body || outgoing.method === 'HEAD' || status === 204 || status === 304) {
      finish();
      if (answer.body) void answer.body.cancel().catch(() => {});
      return response;
    }
    const length = smallBodyLength(response.headers);
    if (length !== undefined) {
      // Manifests, tags, tokens, errors: read whole (Deno's fetch holds it to its Content-Length),
      // each chunk counting as progress, so a slow origin still trickling is not cut as idle.
      try {
        const read = await readUpTo(answer.body, length, () => (transfer.last = Date.now()));
        if (!read.whole) {
          void read.rest.cancel().catch(() => {});
          throw new Error(`sent more than its Content-Length of ${length} bytes`);
        }
        response.body = read.bytes;
      } catch (error) {
        throw failed(error);
      }
      finish();
      return response;
    }
    response.body = tapStream(answer.body, {
      onChunk: (chunk) => {
        transfer.last = Date.now();
        memory.streamed(chunk.byteLength);
      },
      onEnd: finish,
    });
    return response;
  };

  return {
    send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      return outgoing.body ? sendNode(outgoing) : sendFetch(outgoing);
    },
    async close() {
      idle.stop();
      agents.http.destroy();
      agents.https.destroy();
    },
  };

  /** Requests with a body: Deno's node:http client, which writes the declared Content-Length. */
  function sendNode(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
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
      let idleFired = false;
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
        idle.delete(transfer);
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
        if (connectTimedOut)
          return reject(new UpstreamError('timeout', `${to.host}: timed out connecting after ${timeouts.connect} s (timeouts.connect)`, { cause: error }));
        if (idleFired) return reject(new UpstreamError('timeout', `${to.host}: no answer within ${timeouts.idle} s (timeouts.idle)`, { cause: error }));
        // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
        const failure = failureText(error, outgoing.url);
        reject(new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error }));
      };
      const transfer: Transfer = {
        last: Date.now(),
        expire() {
          idleFired = true;
          cut(new Error(`no byte moved for ${timeouts.idle} s (timeouts.idle)`));
        },
      };
      // The client went away: the socket goes, with whatever was half sent.
      const onAbort = () => cut(signal.reason instanceof Error ? signal.reason : new Error('the client went away'));
      signal.addEventListener('abort', onAbort, { once: true });
      idle.add(transfer);
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
        transfer.last = Date.now();
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
          // Manifests, tags, tokens, errors: read whole (one buffer, no web stream), then answered.
          const chunks: Buffer[] = [];
          let total = 0;
          answer.on('data', (chunk: Buffer) => {
            transfer.last = Date.now();
            total += chunk.byteLength;
            if (total > length) request.destroy(new Error(`sent more than its Content-Length of ${length} bytes`));
            else chunks.push(chunk);
          });
          answer.on('end', () => {
            finish();
            if (settled) return;
            settled = true;
            response.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
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
          transfer.last = Date.now();
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
        transfer.last = Date.now();
        memory.streamed(bytes);
      }).catch((error: unknown) => {
        uploadError = error;
        cut(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }
}

/** Body bytes streamed (either way) between two looks at V8's external memory. */
export const MEMORY_CHECK_BYTES = 8 * 1024 * 1024;
/** External memory (dead body chunks, mostly) past which a collection is asked for. */
export const EXTERNAL_MEMORY_LIMIT = 32 * 1024 * 1024;

/**
 * Keeps dead body chunks from piling up on Deno. Every chunk streamed either way is a fresh
 * ~64 KiB buffer outside V8's heap, freed only when a collection finds its small JS object dead.
 * V8 collects for that external memory on its own only once it has grown by 64 MiB since the
 * last full collection, and its young generation (8 MiB after start-up, 14 while streaming)
 * fills too slowly with the few objects a stream makes to trigger scavenges in between: measured
 * on Deno 2.9.6, 1 GiB each way took the router from 70 MB idle to 160–170 MB RSS, with up to
 * 68 MiB of external memory. So every MEMORY_CHECK_BYTES streamed, this looks at the
 * external memory (`Deno.memoryUsage()`, a few µs) and, past EXTERNAL_MEMORY_LIMIT, asks for a
 * collection. Deno has no cheap young-generation collection for this, as Node has
 * (src/forward/scavenge.ts): the `gc` of a `node:vm` context runs V8's low-memory collection
 * (full, memory-reducing, 40–190 ms here under load). But that one also shrinks the young
 * generation (to 4 MiB), whose scavenges then free dead chunks often enough: 1–4 collections per
 * GiB streamed, external memory 10–20 MiB, peak RSS 105–120 MB, throughput unchanged within the noise.
 */
export class ExternalMemoryGuard {
  #pending = 0;

  /**
   * @param external V8's external memory in bytes now.
   * @param collect a full collection; `undefined` where none can be had (the guard does nothing).
   */
  constructor(
    private readonly external: () => number,
    private readonly collect: (() => void) | undefined,
  ) {}

  /** Counts `bytes` of a body streamed; collects when the check finds external memory past the limit. */
  streamed(bytes: number): void {
    if (!this.collect) return;
    this.#pending += bytes;
    if (this.#pending < MEMORY_CHECK_BYTES) return;
    this.#pending = 0;
    if (this.external() > EXTERNAL_MEMORY_LIMIT) this.collect();
  }
}

/**
 * V8's `gc`, switched on at run time for a fresh `node:vm` context only, so the documented
 * command line needs no `--v8-flags`. On Deno it is a full collection (see ExternalMemoryGuard).
 * `undefined` where that is not possible.
 */
function fullCollection(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    return typeof gc === 'function' ? () => gc() : undefined;
  } catch {
    return undefined;
  }
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

interface Transfer {
  /** Date.now() when a byte last moved either way (or the request started). */
  last: number;
  expire(): void;
}

/**
 * Idle timeouts for every transfer in flight from one timer that wakes every ~1 s (a quarter of
 * the timeout when that is shorter), instead of a timer set and cleared per request and re-armed
 * per chunk: a transfer records when a byte last moved, and is expired once that is `ms` ago. So
 * a timeout fires between `ms` and `ms` plus one sweep. The timer runs only while transfers do.
 */
class IdleSweep {
  readonly #transfers = new Set<Transfer>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #every: number;

  constructor(private readonly ms: number) {
    this.#every = Math.max(10, Math.min(1000, Math.floor(ms / 4)));
  }

  add(transfer: Transfer): void {
    this.#transfers.add(transfer);
    this.#timer ??= setInterval(() => this.#sweep(), this.#every);
  }

  delete(transfer: Transfer): void {
    this.#transfers.delete(transfer);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#transfers.size === 0) {
      this.stop();
      return;
    }
    const now = Date.now();
    for (const transfer of this.#transfers) {
      if (now - transfer.last < this.ms) continue;
      this.#transfers.delete(transfer);
      transfer.expire();
    }
  }
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
