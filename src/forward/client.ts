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
  /**
   * The body as a stream, or as bytes when the client already read it whole (answers that declare
   * at most SMALL_BODY bytes: manifests, tag lists, tokens, errors), which spares building and
   * pumping a web stream per small answer. `null`: no body.
   */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /**
   * For a client that times the body's transfer itself (fetch-client's idle timer): whoever passes
   * the body on calls `chunk()` for each chunk and `end()` once it is done with it, so that no
   * stream has to be wrapped around the body only to watch it. A missed `end()` costs nothing
   * worse than a timer that fires on a finished request.
   */
  watch?: { chunk(): void; end(): void };
}

/** Answers that declare at most this many bytes are read whole before they are passed on (one write). */
export const SMALL_BODY = 64 * 1024;

/** `Content-Length` when it is one decimal number no larger than SMALL_BODY; else `undefined`. */
export function smallBodyLength(headers: Headers): number | undefined {
  const declared = headers.get('content-length');
  if (declared === null || !/^\d+$/.test(declared)) return undefined;
  const length = Number(declared);
  return length <= SMALL_BODY ? length : undefined;
}

/** Lets go of a body nobody will read: a stream is cancelled (the client frees its connection or closes it). */
export function discardBody(body: ReadableStream<Uint8Array> | Uint8Array | null): void {
  if (body && !(body instanceof Uint8Array)) void body.cancel().catch(() => {});
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
