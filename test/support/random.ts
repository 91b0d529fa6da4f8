import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/** 1 MiB, the default generation chunk. */
export const MiB = 1024 * 1024;

/**
 * Deterministic pseudo-random bytes: AES-128-CTR keystream keyed by
 * sha256(seed). Fast (hundreds of MB/s) and never holds more than one chunk.
 * The same (seed, size) always yields the same bytes, whatever chunkSize is.
 */
export async function* randomChunks(size: number, seed: string, chunkSize: number = MiB): AsyncGenerator<Buffer, void, undefined> {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`randomChunks: bad size ${size}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new Error(`randomChunks: bad chunkSize ${chunkSize}`);
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(Math.min(chunkSize, Math.max(size, 1)));
  let left = size;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    yield cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

/** Same content as randomChunks, as a Readable (backpressure-aware). */
export function randomStream(size: number, seed: string, chunkSize: number = MiB): Readable {
  return Readable.from(randomChunks(size, seed, chunkSize), { objectMode: false });
}

/** sha256 ("sha256:<hex>") of the deterministic content, computed by streaming. */
export async function randomDigest(size: number, seed: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of randomChunks(size, seed)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}
