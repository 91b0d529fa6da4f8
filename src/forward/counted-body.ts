/**
 * A streamed answer whose client counts its bytes and knows its end (undici's callbacks see
 * every chunk anyway): forward/forward.ts then passes the client's stream on as is instead of
 * wrapping a second stream around it only to count (one web stream and its promises less per
 * chunk). Keyed by the stream, so a body pass that replaces the body is counted the usual way.
 */
export class BodyCount {
  /** Bytes handed to the stream so far. */
  bytes = 0;
  #ended: { error?: unknown } | undefined;
  #onEnd: ((error?: unknown) => void) | undefined;

  /** The client: the stream ended (`error` undefined), failed, or its reader cancelled; once. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = { error };
    this.#onEnd?.(error);
  }

  /** forward: `callback` runs once at the end, at once when the stream ended before this was called. */
  whenEnded(callback: (error?: unknown) => void): void {
    if (this.#ended) callback(this.#ended.error);
    else this.#onEnd = callback;
  }
}

const counts = new WeakMap<ReadableStream<Uint8Array>, BodyCount>();

/** Registers `body` as counted by its client; returns the count the client updates. */
export function countBody(body: ReadableStream<Uint8Array>): BodyCount {
  const count = new BodyCount();
  counts.set(body, count);
  return count;
}

/** The count of a body registered by countBody, or `undefined`. */
export const countOf = (body: unknown): BodyCount | undefined => counts.get(body as ReadableStream<Uint8Array>);
