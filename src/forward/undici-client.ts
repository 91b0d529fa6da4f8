import { Readable } from 'node:stream';
import { Agent, errors, request } from 'undici';
import { nodeToWeb } from '../stream/node-to-web.ts';
import { failureText } from './net-errors.ts';
import { UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';

/**
 * Node's upstream client. undici's `request` never decodes bodies (global fetch would gunzip
 * them), lets us send the intended Host, and its header/body timeouts are idle timers.
 */
export function undiciClient(timeouts: ClientTimeouts): UpstreamClient {
  const agent = new Agent({
    connect: { timeout: timeouts.connect * 1000 },
    headersTimeout: timeouts.idle * 1000,
    bodyTimeout: timeouts.idle * 1000,
  });
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const headers: Record<string, string> = {};
      outgoing.headers.forEach((value, name) => {
        headers[name] = value;
      });
      try {
        const response = await request(outgoing.url, {
          method: outgoing.method as 'GET',
          headers,
          body: outgoing.body ? Readable.fromWeb(outgoing.body as import('node:stream/web').ReadableStream) : null,
          signal: outgoing.signal,
          dispatcher: agent,
          // undici closes the connection after every HEAD (in case a broken server sends a body
          // anyway): one new upstream connection per manifest/blob check. Registries answer HEAD
          // correctly; keep the connection.
          ...(outgoing.method === 'HEAD' && { reset: false }),
        });
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
          else if (value !== undefined) responseHeaders.set(name, value);
        }
        const status = response.statusCode;
        if (outgoing.method === 'HEAD' || status === 204 || status === 304) {
          // Nothing follows these headers: no web stream to build and cancel (cancelling makes
          // undici destroy the socket when the answer has not been read to its end).
          response.body.dump().catch(() => {});
          return { status, statusText: response.statusText, headers: responseHeaders, body: null };
        }
        return { status, statusText: response.statusText, headers: responseHeaders, body: nodeToWeb(response.body) };
      } catch (error) {
        if (outgoing.signal.aborted) throw error;
        const host = new URL(outgoing.url).host;
        if (error instanceof errors.HeadersTimeoutError) {
          throw new UpstreamError('timeout', `${host}: no answer within ${timeouts.idle} s (timeouts.idle)`, { cause: error });
        }
        if (error instanceof errors.ConnectTimeoutError) {
          throw new UpstreamError('timeout', `${host}: timed out connecting after ${timeouts.connect} s (timeouts.connect)`, { cause: error });
        }
        // The cause by name (connection refused, name not found, TLS/scheme mismatch, reset, …).
        const failure = failureText(error, outgoing.url);
        throw new UpstreamError(failure.timeout ? 'timeout' : 'unreachable', failure.message, { cause: error });
      }
    },
    close: () => agent.close(),
  };
}
