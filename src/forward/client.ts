import type { OutgoingRequest, UpstreamResponse } from '../exchange.ts';

// The messages live in src/exchange.ts (the passes use them without importing forward/); the clients import them from here.
export { discardBody, SMALL_BODY, smallBodyLength, type OutgoingRequest, type UpstreamResponse } from '../exchange.ts';

/**
 * Sends one request to an upstream. Each runtime injects the client that streams best there;
 * every client must pass bytes through undecoded, never follow redirects, and treat `timeouts.idle`
 * as "no byte moved for that long", not as a cap on a long transfer.
 */
export interface UpstreamClient {
  send(request: OutgoingRequest): Promise<UpstreamResponse>;
  close?(): Promise<void>;
}

export interface ClientTimeouts {
  /** Seconds without progress before the transfer is given up. */
  idle: number;
  /** Seconds to establish a connection. */
  connect: number;
}

/** Why the upstream could not answer: the app maps `unreachable` to 502 and `timeout` to 504. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly kind: 'unreachable' | 'timeout',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
