/**
 * Answers whose body the runtime pipes natively. Bun.serve moves a `fetch` body handed to it
 * untouched from the upstream socket to the client's without JavaScript per chunk (measured here,
 * 1 GiB on loopback: 0.58 s at 0.35 s CPU untouched, against 1.88 s through one JavaScript stream
 * and 1.48 s through one `type: "direct"` stream). What is lost is the per-chunk hook, so for such
 * answers the router counts the declared length (logged as the headers go out), and cuts a stalled
 * upstream by a deadline derived from that length and a floor rate: aborting the fetch then
 * breaks the client's transfer (Bun honours the abort of a piped body). Bun tells nothing of how
 * a piped body ended (neither request.signal nor any callback, measured on 1.4.5), so an upstream
 * that breaks off is logged as complete: off unless the config's `nativePipe` turns it on.
 *
 * Deno.serve pipes untouched fetch bodies in Rust too (0.70 s at 0.23 s CPU against 1.18 s), and
 * `info.completed` would say when one was sent; but once handed over, neither the fetch's
 * AbortSignal nor closing its HttpClient stops it (Deno 2.9.6: a stalled upstream kept the client
 * waiting), so a stall could not be cut there and Deno stays on the JavaScript path.
 *
 * An adapter whose server pipes natively marks each request (`pipeNatively`); forward/forward.ts
 * then hands large fixed-length upstream bodies over untouched. A symbol-keyed property on the
 * Request, so the core's signature stays the Fetch API's.
 */
const NATIVE_PIPE = Symbol('registry-router.nativePipe');

/** What the core tells the adapter about an answer it hands over untouched, and the config's `nativePipe`. */
export interface NativePipe {
  /**
   * Bodies below this (bytes) stay on the JavaScript path, where `timeouts.idle` is exact (no byte moved for that long).
   * The config's default: 1 MiB.
   */
  readonly minSize: number;
  /**
   * The slowest a natively piped answer may go, in bytes per second: a body of `n` bytes is cut
   * `n / floorRate` s plus `timeouts.idle` after its headers went out unless it ended (the
   * default 256 KiB/s: a 1 GiB layer has 68 minutes, a 16 MiB one 64 s). A client that reads
   * slower than this on average cannot finish such a body: why the whole mechanism is opt-in.
   */
  readonly floorRate: number;
  /** Set by the core when it hands a body over untouched: ms after which the transfer is over, one way or the other. */
  deadlineMs?: number;
}

/** Marks `request` as served by a runtime that pipes untouched fetch bodies natively. */
export function pipeNatively(request: Request, pipe: NativePipe): void {
  (request as Request & { [NATIVE_PIPE]?: NativePipe })[NATIVE_PIPE] = pipe;
}

/** The mark of pipeNatively, or `undefined` (Node, workerd: bodies pass through JavaScript). */
export function nativePipeOf(request: Request): NativePipe | undefined {
  return (request as Request & { [NATIVE_PIPE]?: NativePipe })[NATIVE_PIPE];
}

/** The deadline of a natively piped body of `length` bytes, in ms (idle time added by the client's sweep). */
export const nativeDeadlineMs = (length: number, pipe: NativePipe): number => Math.ceil((length / pipe.floorRate) * 1000);
