/**
 * The `signal` of a request served by the Node adapter: aborted when the client went away (the
 * answer's ServerResponse closed before it finished, or the request errored), as @hono/node-server's
 * own signal is. node-server builds an AbortController the first time `request.signal` is read, and
 * the router reads it on every request (the outgoing passes hand it to the client, which listens
 * on it): AbortSignal's creation and its EventTarget listeners took ~5% of a small GET's CPU on
 * Node 20. This stand-in keeps the part of AbortSignal the router and its clients use (`aborted`,
 * `reason`, `throwIfAborted`, `onabort`, `addEventListener`/`removeEventListener` of 'abort',
 * `dispatchEvent`) in a plain object, and passes `instanceof AbortSignal` (for a `Request` or
 * `fetch` it might be handed to, which accept any object with that surface and no more).
 */
type AbortListener = EventListenerOrEventListenerObject;

export class ClientGone {
  #aborted = false;
  #reason: unknown = undefined;
  // Usually one: the upstream client's, added and removed once per request.
  #listeners: AbortListener[] | undefined;
  // An accessor, not a field: a field assigned in the constructor would hit AbortSignal.prototype's own setter.
  #onabort: ((this: AbortSignal, event: Event) => unknown) | null = null;

  get onabort(): ((this: AbortSignal, event: Event) => unknown) | null {
    return this.#onabort;
  }
  set onabort(handler: ((this: AbortSignal, event: Event) => unknown) | null) {
    this.#onabort = typeof handler === 'function' ? handler : null;
  }

  /** Whether the client went away. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why (node-server's wording: a string, or the request's error as text); `undefined` until aborted. */
  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  /** Only 'abort' is ever dispatched; a listener added twice runs once, as on an EventTarget. */
  addEventListener(type: string, listener: AbortListener | null, _options?: boolean | AddEventListenerOptions): void {
    if (type !== 'abort' || !listener || this.#aborted) return;
    const listeners = (this.#listeners ??= []);
    if (!listeners.includes(listener)) listeners.push(listener);
  }

  removeEventListener(type: string, listener: AbortListener | null, _options?: boolean | EventListenerOptions): void {
    const listeners = this.#listeners;
    if (type !== 'abort' || !listener || !listeners) return;
    const at = listeners.indexOf(listener);
    if (at >= 0) listeners.splice(at, 1);
  }

  dispatchEvent(event: Event): boolean {
    if (event.type !== 'abort') return true;
    const listeners = this.#listeners ?? [];
    this.#listeners = undefined;
    const self = this as unknown as AbortSignal;
    for (const call of [this.#onabort, ...listeners]) {
      if (!call) continue;
      try {
        if (typeof call === 'function') call.call(self, event);
        else call.handleEvent(event);
      } catch (error) {
        // As an EventTarget does: a listener's throw is reported, the other listeners still run.
        process.nextTick(() => {
          throw error;
        });
      }
    }
    return true;
  }

  /** The adapter: the client went away for `reason`; listeners run once, later ones never. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.dispatchEvent(new Event('abort'));
  }
}
// Only for `instanceof` (undici's Request and fetch check it); every member used is ClientGone's own.
Object.setPrototypeOf(ClientGone.prototype, AbortSignal.prototype);

/** The part of node:http's messages watched: the request's error, the answer's close and whether it finished. */
interface Ends {
  readonly incoming: { readonly errored: Error | null };
  readonly outgoing: { readonly writableFinished: boolean; on(event: 'close', listener: () => void): unknown };
}

/**
 * Puts a ClientGone on `request` as its `signal`, aborted when `outgoing` closes unfinished or
 * `incoming` errored (node-server's rule for its own signal, which stays in use for a Request it
 * builds to read a body). Returns the signal.
 */
export function withClientGone(request: Request, { incoming, outgoing }: Ends): AbortSignal {
  const signal = new ClientGone();
  outgoing.on('close', () => {
    if (incoming.errored) signal.abort(incoming.errored.toString());
    else if (!outgoing.writableFinished) signal.abort('Client connection prematurely closed.');
  });
  const abortSignal = signal as unknown as AbortSignal;
  Object.defineProperty(request, 'signal', { value: abortSignal, configurable: true, enumerable: true });
  return abortSignal;
}
