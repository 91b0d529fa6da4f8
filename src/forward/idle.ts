/**
 * The one idle mechanism of the upstream clients: `timeouts.idle` is "no byte moved for that long"
 * (docker layers can take an hour to upload; only a stalled transfer is cut), kept for every
 * transfer in flight by one timer that wakes every ~1 s (a quarter of the timeout when that is
 * shorter) instead of a timer set and cleared per request and re-armed per chunk. A transfer
 * records when a byte last moved (`touch`, a clock read per chunk) and is expired once that is
 * `ms` ago: a timeout fires between `ms` and `ms` plus one sweep. The timer runs only while
 * transfers do, and does not keep the process alive.
 */
export class IdleSweep {
  readonly #transfers = new Set<Transfer>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #every: number;

  /** @param ms milliseconds without progress before a transfer expires (`timeouts.idle` × 1000). */
  constructor(readonly ms: number) {
    this.#every = Math.max(10, Math.min(1000, Math.floor(ms / 4)));
  }

  /** Starts watching a transfer; `expire` runs once, from the timer, when no byte moved for `ms`. */
  start(expire: (transfer: Transfer) => void): Transfer {
    const transfer = new Transfer(this, expire);
    this.#transfers.add(transfer);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#sweep(), this.#every);
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return transfer;
  }

  /** @internal Transfer.end. */
  delete(transfer: Transfer): void {
    this.#transfers.delete(transfer);
  }

  /** Stops the timer (the client closes); transfers in flight are no longer watched. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#transfers.clear();
  }

  #sweep(): void {
    if (this.#transfers.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    for (const transfer of this.#transfers) {
      if (now - transfer.last < this.ms) continue;
      this.#transfers.delete(transfer);
      transfer.expired = true;
      transfer.expire(transfer);
    }
  }
}

/** One request's progress, as IdleSweep sees it. */
export class Transfer {
  /** Date.now() when a byte last moved either way (or the request started, or the deadline's start). */
  last = Date.now();
  /** Set when the sweep expired it: the failure that follows is an idle timeout. */
  expired = false;
  /** How the client cuts this transfer, for an `expire` that calls it (set once the client can). */
  cut?: (reason: Error) => void;

  constructor(
    private readonly sweep: IdleSweep,
    readonly expire: (transfer: Transfer) => void,
  ) {}

  /** A byte moved. */
  touch(): void {
    this.last = Date.now();
  }

  /**
   * The body goes on where no JavaScript sees its bytes (a runtime's native pipe): from now on it
   * expires `ms` plus timeouts.idle from now unless it ends first, a deadline instead of a watch.
   */
  deadline(ms: number): void {
    this.last = Date.now() + ms;
  }

  /** Over (the body was read, or failed): no longer watched. */
  end(): void {
    this.sweep.delete(this);
  }
}
