import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClientTimeouts, UpstreamClient } from './client.ts';
import { denoHttpClient } from './deno-http-client.ts';
import { fetchClient } from './fetch-client.ts';
import { IdleSweep } from './idle.ts';
import { ExternalMemoryGuard } from './memory-guard.ts';

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
 * Both halves share one IdleSweep (forward/idle.ts) and one ExternalMemoryGuard (forward/memory-guard.ts).
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

/**
 * V8's `gc`, switched on at run time for a fresh `node:vm` context only, so the documented
 * command line needs no `--v8-flags`. On Deno it is a full collection (see forward/memory-guard.ts).
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
