/**
 * The Deno and Bun clients' ExternalMemoryGuard: looks at the external memory once per
 * MEMORY_CHECK_BYTES streamed and asks for a collection only past EXTERNAL_MEMORY_LIMIT. Its effect
 * on a real router (peak RSS for 1 GiB each way) is asserted by test/e2e/docker.test.ts (LIMITS).
 */
import { describe, expect, it } from 'vitest';
import { EXTERNAL_MEMORY_LIMIT, ExternalMemoryGuard, MEMORY_CHECK_BYTES } from '../../src/forward/memory-guard.ts';

const CHUNK = 64 * 1024;

function guarded(externalBytes: () => number) {
  const seen = { reads: 0, collections: 0 };
  const guard = new ExternalMemoryGuard(
    () => {
      seen.reads++;
      return externalBytes();
    },
    () => seen.collections++,
  );
  return { guard, seen };
}

describe('ExternalMemoryGuard', () => {
  it('collects at a check point when external memory is past the limit, then again only at the next one', () => {
    const { guard, seen } = guarded(() => EXTERNAL_MEMORY_LIMIT + 1);
    const chunksPerCheck = MEMORY_CHECK_BYTES / CHUNK;
    for (let i = 0; i < chunksPerCheck - 1; i++) guard.streamed(CHUNK);
    expect(seen).toEqual({ reads: 0, collections: 0 });
    guard.streamed(CHUNK);
    expect(seen).toEqual({ reads: 1, collections: 1 });
    for (let i = 0; i < chunksPerCheck - 1; i++) guard.streamed(CHUNK);
    expect(seen).toEqual({ reads: 1, collections: 1 });
    guard.streamed(CHUNK);
    expect(seen).toEqual({ reads: 2, collections: 2 });
  });

  it('leaves V8 alone while external memory stays under the limit', () => {
    let external = EXTERNAL_MEMORY_LIMIT;
    const { guard, seen } = guarded(() => external);
    for (let i = 0; i < (4 * MEMORY_CHECK_BYTES) / CHUNK; i++) guard.streamed(CHUNK);
    expect(seen).toEqual({ reads: 4, collections: 0 });
    external = EXTERNAL_MEMORY_LIMIT + CHUNK;
    guard.streamed(MEMORY_CHECK_BYTES);
    expect(seen).toEqual({ reads: 5, collections: 1 });
  });

  it('does nothing, not even reading the memory, where no collection can be had', () => {
    let reads = 0;
    const guard = new ExternalMemoryGuard(() => ++reads + EXTERNAL_MEMORY_LIMIT, undefined);
    guard.streamed(10 * MEMORY_CHECK_BYTES);
    expect(reads).toBe(0);
  });
});
