import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Body bytes streamed between two young-generation collections. */
export const SCAVENGE_BYTES = 4 * 1024 * 1024;

/**
 * External bytes (buffers' memory outside the JS heap) that may outlive scavenges, over what the
 * last full collection left, before a full collection runs.
 */
export const PROMOTED_BYTES = 16 * 1024 * 1024;

type Gc = (options: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

/**
 * V8's own collector, reached the documented way (`--expose-gc`) but switched on at run time for
 * a fresh context only, so the bin needs no flags. `undefined` where that is not possible.
 */
function exposeGc(): Gc | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as Gc | undefined;
    return typeof gc === 'function' ? gc : undefined;
  } catch {
    return undefined;
  }
}

/** V8's external memory in bytes (ArrayBuffers' backing stores included); 0 where the runtime does not say. */
function externalBytes(): number {
  return (getHeapStatistics() as { external_memory?: number }).external_memory ?? 0;
}

const gc = exposeGc();
let pending = 0;
// External bytes after the last full collection (or at start): the level promoted buffers are measured against.
let floor = gc ? externalBytes() : 0;

/**
 * Counts `bytes` of a body streamed through Node (either way) and runs a young-generation
 * collection every SCAVENGE_BYTES. Why: each socket read is a fresh 64 KiB buffer outside the JS
 * heap, freed only when a collection finds its small JS wrapper dead. A stream allocates little on
 * the heap itself, so collections are rare and dead buffers pile up until V8's external-memory
 * limit (64 MiB over the last collection) forces one: +60 MiB of RSS while streaming. A scavenge
 * costs well under a millisecond here; 4 MiB take ~4 ms to stream at 1 GiB/s. Measured over 4 GiB
 * each way: peak RSS 122–133 MB with 8 MiB steps, 99–101 MB with 4 MiB, throughput no lower.
 *
 * A buffer still in flight at two collections (queued behind a slow upstream socket, or caught by
 * V8's own scavenges between ours) is promoted to the old generation, which only a full collection
 * frees; on uploads those piled up to the same 64 MiB limit now and then (peak RSS 134 MB against
 * 103–108 MB). So when a scavenge leaves more than PROMOTED_BYTES of external memory over the
 * floor, a full collection is asked for. Asynchronous: V8 runs it in a task of its own, off this
 * stack (Node 20's synchronous `major` returns in well under a millisecond and frees no promoted
 * buffer). The floor then follows what the collection leaves: bytes still in use cause no repeat.
 */
export function streamed(bytes: number): void {
  if (!gc) return;
  pending += bytes;
  if (pending < SCAVENGE_BYTES) return;
  pending = 0;
  gc({ type: 'minor', execution: 'sync' });
  const external = externalBytes();
  if (external < floor) floor = external;
  if (external - floor <= PROMOTED_BYTES) return;
  gc({ type: 'major', execution: 'async' });
  // Lowered at the next scavenge to what the collection left; if the bytes are still in use, no repeat.
  floor = external;
}
