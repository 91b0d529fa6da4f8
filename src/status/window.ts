/**
 * Requests per site over the last few minutes, for the status page: a ring of per-minute buckets
 * (wall-clock minutes). Recording is O(1): one division, one slot check, a few additions into typed
 * arrays. A slot is reset lazily when a request lands in a newer minute, and ignored when read if it
 * belongs to a minute outside the window (nothing happened then).
 */
export const MINUTE_MS = 60_000;

/** One minute of one site, as the status JSON shows it. */
export interface MinuteCounts {
  /** Start of the minute (ISO 8601). */
  start: string;
  requests: number;
  /** Answers with a 4xx status (the router's own refusals included). */
  clientErrors: number;
  /** Answers with a 5xx status (upstream failures, paused writes, timeouts). */
  serverErrors: number;
  bytesIn: number;
  bytesOut: number;
}

export class MinuteWindow {
  readonly #minute: Float64Array;
  readonly #requests: Float64Array;
  readonly #clientErrors: Float64Array;
  readonly #serverErrors: Float64Array;
  readonly #bytesIn: Float64Array;
  readonly #bytesOut: Float64Array;

  /** `size` minutes are kept: the current one and `size - 1` before it. */
  constructor(readonly size = 5) {
    this.#minute = new Float64Array(size).fill(-1);
    this.#requests = new Float64Array(size);
    this.#clientErrors = new Float64Array(size);
    this.#serverErrors = new Float64Array(size);
    this.#bytesIn = new Float64Array(size);
    this.#bytesOut = new Float64Array(size);
  }

  record(now: number, status: number, bytesIn: number, bytesOut: number): void {
    const minute = Math.floor(now / MINUTE_MS);
    const slot = minute % this.size;
    if (this.#minute[slot] !== minute) {
      this.#minute[slot] = minute;
      this.#requests[slot] = 0;
      this.#clientErrors[slot] = 0;
      this.#serverErrors[slot] = 0;
      this.#bytesIn[slot] = 0;
      this.#bytesOut[slot] = 0;
    }
    this.#requests[slot]!++;
    if (status >= 500) this.#serverErrors[slot]!++;
    else if (status >= 400) this.#clientErrors[slot]!++;
    this.#bytesIn[slot]! += bytesIn;
    this.#bytesOut[slot]! += bytesOut;
  }

  /** The last `size` minutes, oldest first; the last one is the current (partial) minute. */
  minutes(now: number): MinuteCounts[] {
    const current = Math.floor(now / MINUTE_MS);
    const out: MinuteCounts[] = [];
    for (let minute = current - this.size + 1; minute <= current; minute++) {
      const slot = ((minute % this.size) + this.size) % this.size;
      const live = this.#minute[slot] === minute;
      out.push({
        start: new Date(minute * MINUTE_MS).toISOString(),
        requests: live ? this.#requests[slot]! : 0,
        clientErrors: live ? this.#clientErrors[slot]! : 0,
        serverErrors: live ? this.#serverErrors[slot]! : 0,
        bytesIn: live ? this.#bytesIn[slot]! : 0,
        bytesOut: live ? this.#bytesOut[slot]! : 0,
      });
    }
    return out;
  }
}
