import { UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { failureText } from './net-errors.ts';
import { tapStream } from '../stream/tap.ts';
import { IdleTimer } from './idle-timer.ts';

type FetchFunction = (input: string, init: RequestInit & Record<string, unknown>) => Promise<Response>;

/** Runtime-specific knobs for the Fetch API client (see src/bun.ts, src/deno.ts, src/worker.ts). */
export interface FetchClientOptions {
  fetch?: FetchFunction;
  /** Merged into every fetch init, e.g. Bun's `{ decompress: false }` or Deno's `{ client }`. */
  init?: Record<string, unknown>;
  /**
   * Sent instead of the client's Accept-Encoding. Deno's fetch decodes every encoded answer unless
   * the request says exactly "identity", and has no switch to stop it: "identity" keeps bytes as sent.
   */
  acceptEncoding?: string;
}

/** Forwards with the Fetch API: portable, so it serves Bun, Deno and workerd alike. */
export function fetchClient(timeouts: ClientTimeouts, options: FetchClientOptions = {}): UpstreamClient {
  const fetchFn: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const idle = new IdleTimer(timeouts.idle * 1000, outgoing.signal);
      if (options.acceptEncoding) outgoing.headers.set('accept-encoding', options.acceptEncoding);
      // A request body that fails (client gone, over the site's cap) must cut the upstream request:
      // workerd's fetch ends a chunked upload cleanly when its source errors, so the origin would
      // take a truncated body for a whole one.
      const broken = new AbortController();
      const upload = outgoing.body && tapStream(outgoing.body, { onChunk: () => idle.touch(), onError: (error) => broken.abort(error) });
      let response: Response;
      try {
        response = await fetchFn(outgoing.url, {
          method: outgoing.method,
          headers: outgoing.headers,
          body: upload && withDeclaredLength(upload, outgoing.headers),
          redirect: 'manual',
          duplex: 'half',
          signal: AbortSignal.any([idle.signal, broken.signal]),
          ...options.init,
        });
      } catch (error) {
        idle.stop();
        if (outgoing.signal.aborted) throw error;
        if (broken.signal.aborted) throw broken.signal.reason;
        if (idle.fired) throw new UpstreamError('timeout', `${new URL(outgoing.url).host}: no answer within ${timeouts.idle} s (timeouts.idle)`);
        // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
        const failure = failureText(error, outgoing.url);
        throw new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error });
      }
      const headers = new Headers(response.headers);
      const body = response.body ? idle.watch(response.body, () => idle.stop()) : (idle.stop(), null);
      return { status: response.status, statusText: response.statusText, headers, body };
    },
  };
}

type FixedLengthStreamClass = new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

/**
 * workerd's fetch sends a JavaScript stream chunked, whatever `Content-Length` says; the readable
 * half of its `FixedLengthStream` (Cloudflare's API, workerd only) is a stream of known length, sent
 * with that `Content-Length` and failed if the bytes come out more or fewer. Elsewhere: `body` as is
 * (Bun's fetch keeps a declared length by itself).
 */
function withDeclaredLength(body: ReadableStream<Uint8Array>, headers: Headers): ReadableStream<Uint8Array> {
  const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamClass }).FixedLengthStream;
  const declared = headers.get('content-length');
  if (!Fixed || declared === null || !/^\d+$/.test(declared)) return body;
  const fixed = new Fixed(Number(declared));
  // A failing source aborts the writable half, which fails the upload (and `broken` cuts it).
  body.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
}
