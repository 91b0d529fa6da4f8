import { smallBodyLength, UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { failureText } from './net-errors.ts';
import { readUpTo } from '../stream/read-up-to.ts';
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
      const upload = outgoing.body && tapStream(outgoing.body, { onChunk: () => idle.touch(), onError: (error) => idle.cut(error) });
      let response: Response;
      try {
        response = await fetchFn(outgoing.url, {
          method: outgoing.method,
          headers: outgoing.headers,
          body: upload && withDeclaredLength(upload, outgoing.headers),
          redirect: 'manual',
          duplex: 'half',
          // One signal for the client leaving, the idle timeout and a broken upload (no AbortSignal.any per request).
          signal: idle.signal,
          ...options.init,
        });
      } catch (error) {
        idle.stop();
        if (outgoing.signal.aborted) throw error;
        if (idle.broken !== undefined) throw idle.broken;
        if (idle.fired) throw new UpstreamError('timeout', `${new URL(outgoing.url).host}: no answer within ${timeouts.idle} s (timeouts.idle)`);
        // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
        const failure = failureText(error, outgoing.url);
        throw new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error });
      }
      const headers = new Headers(response.headers);
      const base = { status: response.status, statusText: response.statusText, headers };
      if (!response.body) {
        idle.stop();
        return { ...base, body: null };
      }
      const small = smallBodyLength(headers);
      if (small !== undefined) {
        // Read whole here: a manifest or a token goes out in one write, with no stream around it.
        try {
          return { ...base, body: await readWhole(response.body, small, idle, outgoing.url) };
        } catch (error) {
          if (outgoing.signal.aborted) throw error;
          if (idle.fired) throw new UpstreamError('timeout', `${new URL(outgoing.url).host}: no answer within ${timeouts.idle} s (timeouts.idle)`);
          throw new UpstreamError('unreachable', failureText(error, outgoing.url).message, { cause: error });
        } finally {
          idle.stop();
        }
      }
      // The body streams on untouched; forward's byte count re-arms the idle timer (one stream less per chunk).
      return { ...base, body: response.body, watch: { chunk: () => idle.touch(), end: () => idle.stop() } };
    },
  };
}

/**
 * A small body (`length` declared, at most SMALL_BODY bytes) read whole; each chunk re-arms the
 * idle timer, so a slow origin trickling a manifest is not cut while bytes still move. Throws when
 * the origin sends more than it declared, or breaks off.
 */
async function readWhole(body: ReadableStream<Uint8Array>, length: number, idle: IdleTimer, url: string): Promise<Uint8Array> {
  const read = await readUpTo(body, length, () => idle.touch());
  if (read.whole) return read.bytes;
  void read.rest.cancel().catch(() => {});
  throw new Error(`${new URL(url).host}: sent more than its Content-Length of ${length} bytes`);
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
