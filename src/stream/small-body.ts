/**
 * A body that did not match its `Content-Length` (a small answer read whole): more than declared,
 * or broken off before it. Worded without the host; forward/upstream-error.ts adds it.
 */
export class BodyMismatch extends Error {
  override name = 'BodyMismatch';
}

/**
 * The one small-body reader: an answer that declares at most SMALL_BODY bytes (manifests, tag
 * lists, tokens, errors) is read whole, so it goes out in one write with no stream around it.
 * Clients push chunks in from their callbacks (`add`), or readSmallBody pulls them from a web
 * stream. Bounded by the declared length: more than that, or fewer at the end, is a BodyMismatch.
 */
export class SmallBody {
  readonly #chunks: Uint8Array[] = [];
  /** Bytes received so far. */
  total = 0;

  /** @param length the declared `Content-Length`, at most SMALL_BODY. */
  constructor(readonly length: number) {}

  /** Adds a chunk; returns the error to cut the connection with when the upstream sent more than it declared. */
  add(chunk: Uint8Array): BodyMismatch | undefined {
    this.total += chunk.byteLength;
    if (this.total > this.length) return new BodyMismatch(`sent more than its Content-Length of ${this.length} bytes`);
    this.#chunks.push(chunk);
    return undefined;
  }

  /** The body once the upstream ended it: one chunk as is (the common case), else joined. Throws a BodyMismatch when it is short. */
  bytes(): Uint8Array {
    if (this.total !== this.length) throw this.brokeOff();
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const bytes = new Uint8Array(this.total);
    let at = 0;
    for (const chunk of this.#chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    return bytes;
  }

  /** The answer failed before its end (`cause`: the transport's error, whose code is named). */
  brokeOff(cause?: unknown): BodyMismatch {
    if (cause instanceof BodyMismatch) return cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    const codeText = typeof code === 'string' ? ` (${code})` : '';
    return new BodyMismatch(`the answer broke off after ${this.total} of its ${this.length} bytes${codeText}`, { cause });
  }
}

/**
 * Reads a web stream of declared `length` (at most SMALL_BODY) whole. `onChunk` runs per chunk
 * (an idle transfer's touch). Rejects with a BodyMismatch: more bytes than declared (the stream is
 * cancelled), or fewer (the stream ended or failed early; its error is the `cause`).
 */
export async function readSmallBody(body: ReadableStream<Uint8Array>, length: number, onChunk?: () => void): Promise<Uint8Array> {
  const small = new SmallBody(length);
  const reader = body.getReader();
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch (error) {
      throw small.brokeOff(error);
    }
    const { done, value } = read;
    if (done) return small.bytes();
    onChunk?.();
    const over = small.add(value);
    if (over) {
      void reader.cancel(over).catch(() => {});
      throw over;
    }
  }
}

/**
 * readSmallBody for a byte stream, read with a BYOB reader straight into one buffer of `length`
 * + 1 bytes (the extra byte catches an upstream that sends more than it declared). Deno's fetch
 * answers with a byte stream whose default reader allocates a fresh 64 KiB buffer for every read
 * (two per answer: the body, then its end): measured on Deno 2.9.6, a small GET took ~35 µs more
 * CPU that way, plus the collections of that garbage (`Response.bytes()` is as cheap as this but
 * reports no progress, and a small answer that trickles must still be timed by `timeouts.idle`
 * per chunk). Falls back to readSmallBody where the stream is not a byte stream.
 */
export async function readSmallByteStream(body: ReadableStream<Uint8Array>, length: number, onChunk?: () => void): Promise<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: 'byob' });
  } catch {
    return readSmallBody(body, length, onChunk);
  }
  const small = new SmallBody(length);
  // Each read hands the buffer over and gives it back in the answer's view.
  let buffer = new ArrayBuffer(length + 1);
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read(new Uint8Array(buffer, small.total, buffer.byteLength - small.total));
    } catch (error) {
      throw small.brokeOff(error);
    }
    const { done, value } = read;
    if (value) buffer = value.buffer as ArrayBuffer;
    if (done) {
      if (small.total !== length) throw small.brokeOff();
      return new Uint8Array(buffer, 0, length);
    }
    onChunk?.();
    small.total += value.byteLength;
    if (small.total > length) {
      const over = new BodyMismatch(`sent more than its Content-Length of ${length} bytes`);
      void reader.cancel(over).catch(() => {});
      throw over;
    }
  }
}
