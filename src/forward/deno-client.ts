import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClientTimeouts, UpstreamClient } from './client.ts';
import { denoHttpClient } from './deno-http-client.ts';
import { fetchClient } from './fetch-client.ts';
import { IdleSweep } from './idle.ts';

/** The little of Deno's API used here (tsc runs with Node's types; `deno check` knows the real ones). */
declare const Deno: { createHttpClient(options: { allowHost?: boolean }): object; memoryUsage(): { external: number } };

/**
 * Deno's upstream client: requests with a body go through Deno's `node:http`/`node:https` client
 * (deno-http-client.ts), requests without one through Deno's fetch (fetch-client.ts). Facts
 * checked on Deno 2.9.6 and on Deno's tracker:
 *
 * - Deno's fetch drops a caller's `Content-Length` whenever the body is a ReadableStream and sends
 *   it `Transfer-Encoding: chunked` (denoland/deno#20274, #24197; the fix, #35109, is unreleased):
 *   an upload declared 300,000 bytes reached the origin chunked, and origins that answer 411 to
 *   chunked bodies broke. It also read chunked uploads at ~12 MiB/s here. `http.request` with a
 *   `Content-Length` header writes exactly that framing: measured ~900 MiB/s with a length, ~600 chunked.
 * - Reading answers, `node:http` costs memory: each 64 KiB read is a fresh buffer and the garbage
 *   outruns V8's collector (a 1 GiB blob GET took the router to ~470 MiB RSS, against ~160 MiB
 *   through fetch, whose answers stream from Rust). Bodiless requests (GET, HEAD: blobs, manifests)
 *   therefore stay on fetch, with `accept-encoding: identity` (Deno's fetch decodes gzip/br unless
 *   the request asks for identity) and `Deno.createHttpClient({ allowHost: true })` (else it
 *   replaces the caller's Host with the URL's).
 *
 * Both halves share one IdleSweep (forward/idle.ts) and one ExternalMemoryGuard (below).
 *
 * @param timeouts seconds: `idle` without progress, `connect` to open a connection.
 * @returns an UpstreamClient; `close()` destroys the pooled `node:http` connections.
 */
export function denoClient(timeouts: ClientTimeouts): UpstreamClient {
  const memory = new ExternalMemoryGuard(() => Deno.memoryUsage().external, fullCollection());
  const sweep = new IdleSweep(timeouts.idle * 1000);
  const uploads = denoHttpClient(timeouts, sweep, memory);
  const reads = fetchClient(timeouts, {
    // Deno's fetch replaces a caller's Host with the URL's unless its client allows it.
    init: { client: Deno.createHttpClient({ allowHost: true }) },
    acceptEncoding: 'identity',
    plainHeaders: true,
    byobReads: true,
    sweep,
    /**
     * A streamed answer that passes through JavaScript (forward's byte count calls `watch.chunk()`
     * per chunk) is counted for the memory guard, at 64 KiB a chunk (Deno's reads are at most that):
     * the guard only decides how often it looks. Given to the fetch client rather than wrapping each
     * answer: no extra async step per bodiless request. (Deno.serve would pipe an untouched fetch
     * body natively, ~1.7× as fast, but once handed over neither the fetch's AbortSignal nor closing
     * its HttpClient stops it, so a stalled upstream could not be cut: forward/native-pipe.ts.)
     */
    onStreamedChunk: () => memory.streamed(CHUNK_ESTIMATE),
  });
  return {
    send: (outgoing) => (outgoing.body ? uploads.send(outgoing) : reads.send(outgoing)),
    close: () => uploads.close?.() ?? Promise.resolve(),
  };
}

/** What a streamed answer's chunk counts for in the guard (see `guarded`). */
const CHUNK_ESTIMATE = 64 * 1024;

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
