/** The Bun adapter's upstream client (also the Node adapter's under Bun). */
import type { ClientTimeouts, UpstreamClient } from '../../forward/client.ts';
import { ExternalMemoryGuard } from '../../forward/memory-guard.ts';
import { fetchClient } from '../../forward/fetch-client.ts';

declare const Bun: { gc(synchronous: boolean): void; peek<T>(promise: Promise<T>): T | Promise<T> };

/** What a streamed answer's chunk counts for in the memory guard: Bun's fetch hands a body to JavaScript in reads of 256 KiB (1.4.5). */
const ANSWER_CHUNK_ESTIMATE = 256 * 1024;

/**
 * Bun's fetch, with `decompress: false` (it would decode gzip/br but keep Content-Encoding/Length);
 * `timeouts` in seconds as in the config; large bodies may be piped natively by Bun.serve
 * (forward/native-pipe.ts). Never throws.
 *
 * Body chunks that pass through JavaScript either way (an upload's, an answer's not piped
 * natively) are counted for a memory guard, as on Deno: each is a fresh buffer outside JSC's
 * heap, freed only by a collection, and Bun's own collections fell behind them. Measured on
 * 1.4.5, 1 GiB up then down (test/e2e/docker.test.ts): up to 35 MiB of dead chunks and a peak
 * RSS of 121–148 MB (173 once in CI, under load), idle 60; with the guard, which asks for a full
 * collection (`Bun.gc(true)`, a few ms) when external memory is past its limit at one of its
 * looks every 8 MiB, 98–126 MB (the e2e test on both Bun entries, 12 runs: 104–126). JSC's
 * eden collection (`bun:jsc` edenGC) made it worse: the chunks in flight are promoted and then
 * wait for a full one.
 */
export function bunClient(timeouts: ClientTimeouts): UpstreamClient {
  const memory = new ExternalMemoryGuard(
    () => process.memoryUsage().external,
    () => Bun.gc(true),
  );
  return fetchClient(timeouts, {
    init: { decompress: false },
    nativePipe: true,
    onStreamedChunk: () => memory.streamed(ANSWER_CHUNK_ESTIMATE),
    onUploadChunk: (bytes) => memory.streamed(bytes),
    settledBody,
    editableAnswerFields: true,
  });
}

/**
 * A small answer's body when Bun's fetch holds all of it already (a manifest comes in the packet
 * of its headers): `bytes()` of a clone settles at once then (`Bun.peek` reads it without a
 * microtask), and neither the answer's stream nor a reader is ever made. Measured on 1.4.5, small
 * GET: ~6 µs CPU less than reading the stream (of ~50). When the body is still coming, the clone's
 * read is left to end with the body, and the answer itself, untouched, is read chunk by chunk, each
 * chunk timed by timeouts.idle (a trickling answer goes on; a stalled one is cut).
 */
function settledBody(answer: Response): Uint8Array | undefined {
  const whole = answer.clone().bytes();
  const value = Bun.peek(whole);
  if (value instanceof Uint8Array) return value;
  whole.catch(() => {});
  return undefined;
}
