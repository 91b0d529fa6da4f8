import { UpstreamError, type ClientTimeouts } from './client.ts';
import { failureText } from './net-errors.ts';
import { BodyMismatch } from '../stream/small-body.ts';

/** Whether a failed transfer was cut by the router's own timers (a client tells which of its timers fired). */
export interface CutBy {
  /** The idle sweep expired it (forward/idle.ts). */
  idle?: boolean;
  /** A new connection did not open within timeouts.connect. */
  connect?: boolean;
}

/**
 * The one wording of an upstream failure, for every client: what the app answers (502
 * `unreachable`, 504 `timeout`) and logs, `host: what (CODE)`. `cutBy` says which of the router's
 * own timers fired; otherwise the cause is named by net-errors.ts. The caller handles a client
 * that went away (its signal's reason) before calling this.
 */
export function upstreamError(error: unknown, url: string, timeouts: ClientTimeouts, cutBy: CutBy = {}): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (cutBy.idle) return new UpstreamError('timeout', `${hostOf(url)}: no answer within ${timeouts.idle} s (timeouts.idle)`, { cause: error });
  if (cutBy.connect) {
    return new UpstreamError('timeout', `${hostOf(url)}: timed out connecting after ${timeouts.connect} s (timeouts.connect)`, { cause: error });
  }
  if (error instanceof BodyMismatch) return new UpstreamError('unreachable', `${hostOf(url)}: ${error.message}`, { cause: error.cause ?? error });
  // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
  const failure = failureText(error, url);
  return new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error });
}

/**
 * The reason every client aborts a transfer with when its idle sweep (forward/idle.ts) expired it:
 * one wording, which the access log shows for a body cut so (`response body: no byte moved for 2 s (timeouts.idle)`).
 */
export const idleCut = (timeouts: ClientTimeouts): Error => new Error(`no byte moved for ${timeouts.idle} s (timeouts.idle)`);

/** `host:port` of an absolute URL, or the text itself. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
