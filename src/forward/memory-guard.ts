/**
 * A look at the runtime's external memory every few MiB of body streamed, and a collection when
 * dead body chunks pile up: the Deno client (forward/deno-client.ts) and the Bun client
 * (adapter/bun/client.ts) give it their own measure and collection.
 */

/** Body bytes streamed (either way) between two looks at V8's external memory. */
export const MEMORY_CHECK_BYTES = 8 * 1024 * 1024;
/** External memory (dead body chunks, mostly) past which a collection is asked for. */
export const EXTERNAL_MEMORY_LIMIT = 32 * 1024 * 1024;

/**
 * Keeps dead body chunks from piling up, on Deno (below) and on Bun (JSC's collections fall behind
 * them the same way: src/adapter/bun/client.ts gives its figures). On Deno every chunk streamed
 * either way is a fresh ~64 KiB buffer outside V8's heap, freed only when a collection finds its
 * small JS object dead.
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
