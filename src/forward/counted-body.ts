/**
 * A streamed answer whose client counts its bytes and knows its end (undici's callbacks see
 * every chunk anyway): forward/forward.ts then passes the client's stream on as is instead of
 * wrapping a second stream around it only to count (one web stream and its promises less per
 * chunk). Keyed by the stream, so a body pass that replaces the body is counted the usual way.
 */
export class BodyCount {
  #bytes = 0;
  #tally: { bytesOut: number } | undefined;

  /** Bytes handed to the stream so far (the client adds to it; a followed tally moves with it). */
  get bytes(): number {
    return this.#bytes;
  }
  set bytes(total: number) {
    this.#bytes = total;
    if (this.#tally) this.#tally.bytesOut = total;
  }

  /** forward: `tally.bytesOut` follows the count while the answer streams (the status page's transfers show their progress). */
  follow(tally: { bytesOut: number }): void {
    this.#tally = tally;
    tally.bytesOut = this.#bytes;
  }
  /**
   * Set by a client that can write the body straight to a Node writable (the undici client): the
   * Node adapter then writes the answer's head itself and calls this instead of letting the server
   * read the web stream (see pipeOf). Bytes, end and failures still reach `end` as on the web path.
   */
  pipe?: (out: NodeSink) => void;
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

/**
 * The part of node:http's ServerResponse a piped body needs (a Writable): written with
 * backpressure through `writableLength` and 'drain', ended, destroyed when the upstream fails.
 */
export interface NodeSink {
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly writableLength: number;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  on(event: 'drain' | 'finish' | 'close', listener: () => void): unknown;
}

const counts = new WeakMap<ReadableStream<Uint8Array>, BodyCount>();
// The streamed answer of a request by its AbortSignal (the request's own, see passes/outgoing.ts): how the Node adapter finds it.
const bySignal = new WeakMap<AbortSignal, { body: ReadableStream<Uint8Array>; count: BodyCount }>();

/** Registers `body` as counted by its client (and, with `signal`, as the answer streamed for that request); returns the count the client updates. */
export function countBody(body: ReadableStream<Uint8Array>, signal?: AbortSignal): BodyCount {
  const count = new BodyCount();
  counts.set(body, count);
  if (signal) bySignal.set(signal, { body, count });
  return count;
}

/**
 * The Node adapter: the streamed answer a client registered for the request with `signal`, when it
 * can pipe to a Node writable; `undefined` otherwise. The caller checks that the answer it sends
 * still has that body (a body pass may have replaced it).
 */
export function pipeOf(signal: AbortSignal): { body: ReadableStream<Uint8Array>; pipe: (out: NodeSink) => void } | undefined {
  const entry = bySignal.get(signal);
  if (!entry?.count.pipe) return undefined;
  return { body: entry.body, pipe: entry.count.pipe };
}

/** The count of a body registered by countBody, or `undefined`. */
export const countOf = (body: unknown): BodyCount | undefined => counts.get(body as ReadableStream<Uint8Array>);
