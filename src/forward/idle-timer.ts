/**
 * An abort signal that fires when no byte has moved for `ms`, when the client goes away, or when
 * the router cuts the transfer itself (`cut`: a request body that failed).
 * Docker layers can take an hour to upload; only a stalled transfer should be cut.
 */
export class IdleTimer {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  #stopped = false;
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

  /**
   * Something moved. Cheap enough for every chunk: it only notes the time; the one timer, when it
   * fires, sleeps again for what is left of `ms` since the last touch.
   */
  touch(): void {
    this.#last = Date.now();
    this.#timer ??= this.#arm(this.ms);
  }

  /** Why the transfer was cut from our side (a request body that failed), once `cut` was called. */
  broken: unknown;

  /** Aborts the signal now, with `reason`, and remembers it as `broken`. */
  cut(reason: unknown): void {
    if (this.broken !== undefined || this.#controller.signal.aborted) return;
    this.broken = reason ?? new Error('request body failed');
    this.stop();
    this.#controller.abort(this.broken);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#stopped = true;
  }

  #arm(delay: number): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      const quiet = Date.now() - this.#last;
      if (this.#stopped) return;
      if (quiet < this.ms) {
        this.#timer = this.#arm(this.ms - quiet);
        return;
      }
      this.fired = true;
      this.#controller.abort(new Error('idle timeout'));
    }, delay);
  }
}
