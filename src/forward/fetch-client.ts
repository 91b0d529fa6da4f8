import type { OutgoingRequest, UpstreamResponse } from '../exchange.ts';
import { UpstreamError, type ClientTimeouts, type UpstreamClient } from './client.ts';
import { IdleTimer } from './idle-timer.ts';

type FetchFunction = (input: string, init: RequestInit & Record<string, unknown>) => Promise<Response>;

/** Runtime-specific knobs for the Fetch API client (see src/bun.ts, src/deno.ts, src/worker.ts). */
export interface FetchClientOptions {
  fetch?: FetchFunction;
  /** Merged into every fetch init, e.g. Bun's `{ decompress: false }` or Deno's `{ client }`. */
  init?: Record<string, unknown>;
  /** The runtime's fetch decoded the body: drop Content-Encoding/Length so they match the bytes sent. */
  decodesBodies?: boolean;
}

/** Forwards with the Fetch API: portable, so it serves Bun, Deno and workerd alike. */
export function fetchClient(timeouts: ClientTimeouts, options: FetchClientOptions = {}): UpstreamClient {
  const fetchFn: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const idle = new IdleTimer(timeouts.idle * 1000, outgoing.signal);
      let response: Response;
      try {
        response = await fetchFn(outgoing.url, {
          method: outgoing.method,
          headers: outgoing.headers,
          body: outgoing.body && idle.watch(outgoing.body),
          redirect: 'manual',
          duplex: 'half',
          signal: idle.signal,
          ...options.init,
        });
      } catch (error) {
        idle.stop();
        if (outgoing.signal.aborted) throw error;
        if (idle.fired) throw new UpstreamError('timeout', `no answer from ${new URL(outgoing.url).host} within ${timeouts.idle} s`);
        throw new UpstreamError('unreachable', `${new URL(outgoing.url).host} is unreachable`, { cause: error });
      }
      const headers = new Headers(response.headers);
      if (options.decodesBodies && headers.has('content-encoding')) {
        headers.delete('content-encoding');
        headers.delete('content-length');
      }
      const body = response.body ? idle.watch(response.body, () => idle.stop()) : (idle.stop(), null);
      return { status: response.status, headers, body };
    },
  };
}
