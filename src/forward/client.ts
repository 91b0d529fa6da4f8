/** What goes to the upstream; outgoing passes (passes/outgoing.ts) build it step by step. */
export interface OutgoingRequest {
  url: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  signal: AbortSignal;
}

/** What came back; incoming passes (passes/incoming.ts) adjust it before it becomes the client's response. */
export interface UpstreamResponse {
  status: number;
  /** The reason phrase of the status line (`File already exists.`): clients such as twine print it. */
  statusText?: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
}

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
