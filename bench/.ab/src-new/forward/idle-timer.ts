import { tapStream } from '../stream/tap.ts';

/**
 * An abort signal that fires when no byte has moved for `ms`, or when the client goes away.
 * Docker layers can take an hour to upload; only a stalled transfer should be cut.
 */
export class IdleTimer {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  fired = false;

  constructor(
    private readonly ms: number,
    parent: AbortSignal,
  ) {
    if (parent.aborted) this.#controller.abort(parent.reason);
    else parent.addEventListener('abort', () => this.#controller.abort(parent.reason), { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(new Error('idle timeout'));
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** Re-arms the timer on every chunk that passes; `onEnd` runs when the stream finishes or fails. */
  watch(stream: ReadableStream<Uint8Array>, onEnd?: () => void): ReadableStream<Uint8Array> {
    return tapStream(stream, { onChunk: () => this.touch(), onEnd });
  }
}
