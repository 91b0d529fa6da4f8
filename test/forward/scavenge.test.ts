import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { PROMOTED_BYTES, SCAVENGE_BYTES, streamed } from '../../src/forward/scavenge.ts';

type Gc = (options: { type: 'minor' | 'major'; execution: 'sync' }) => void;

describe('streamed', () => {
  it('frees buffers promoted to the old generation once they pass PROMOTED_BYTES', async () => {
    // The module switched --expose-gc on at import; a fresh context has the collector.
    const gc = runInNewContext('gc') as Gc;
    let held: Buffer[] | undefined = Array.from({ length: (2 * PROMOTED_BYTES) / 65536 }, () => Buffer.allocUnsafeSlow(65536));
    // Alive through several scavenges: promoted, out of a scavenge's reach once dead.
    for (let i = 0; i < 3; i++) gc({ type: 'minor', execution: 'sync' });
    expect(held.length).toBe((2 * PROMOTED_BYTES) / 65536);
    held = undefined;
    const before = process.memoryUsage().arrayBuffers;
    streamed(SCAVENGE_BYTES);
    // The full collection runs in a task of V8's own: wait for it, a tick at a time.
    for (let tick = 0; tick < 200 && before - process.memoryUsage().arrayBuffers < PROMOTED_BYTES; tick++) await new Promise((done) => setTimeout(done, 10));
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThan(1.5 * PROMOTED_BYTES);
  });

  it('runs nothing below SCAVENGE_BYTES', () => {
    expect(() => streamed(1)).not.toThrow();
  });
});
