import { Agent, errors, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { failureText } from './net-errors.ts';
import { streamed } from './scavenge.ts';
import { smallBodyLength, UpstreamError, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';

/**
 * Bytes of an answer's body held in its web stream before the upstream socket is paused: four
 * socket reads (Node reads 64 KiB at a time), so pausing is rare while the client keeps up.
 */
const BODY_BUFFER = 256 * 1024;

/**
 * Node's upstream client: undici's dispatcher, driven through its handler callbacks. undici never
 * decodes bodies (global fetch would gunzip them), sends the Host we set, and its header/body
 * timeouts are idle timers. The callbacks feed the answer straight into one web stream (or, for
 * small answers, into one buffer): `undici.request` would put a Node Readable in between, which
 * then has to be turned into a web stream again, costing a stream, an async iterator and a
 * promise per chunk.
 */
export function undiciClient(timeouts: ClientTimeouts): UpstreamClient {
  const agent = new Agent({
    connect: { timeout: timeouts.connect * 1000 },
    headersTimeout: timeouts.idle * 1000,
    bodyTimeout: timeouts.idle * 1000,
  });
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      try {
        return await dispatch(agent, outgoing);
      } catch (error) {
        if (outgoing.signal.aborted) throw outgoing.signal.reason ?? error;
        const host = new URL(outgoing.url).host;
        if (error instanceof BodyBrokeOff) throw new UpstreamError('unreachable', error.message, { cause: error.cause });
        if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
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

/**
 * One request through `agent`. Resolves at the answer's headers with a streamed body, or at its
 * end for bodies of at most SMALL_BODY declared bytes (read whole: one write to the client later)
 * and for answers without a body. Rejects with undici's error (or the signal's reason) when the
 * request fails before that; a failure later errors the body stream.
 */
function dispatch(agent: Agent, outgoing: OutgoingRequest): Promise<UpstreamResponse> {
  const { signal } = outgoing;
  const url = new URL(outgoing.url);
  const headers: string[] = [];
  outgoing.headers.forEach((value, name) => headers.push(name, value));
  const bodiless = outgoing.method === 'HEAD';

  return new Promise<UpstreamResponse>((resolve, reject) => {
    let control: Dispatcher.DispatchController | undefined;
    let settled = false;
    // The answer so far: a stream once headers said "large", chunks while reading a small one whole.
    let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
    let small: { response: UpstreamResponse; length: number; chunks: Buffer[]; total: number } | undefined;
    let paused = false;

    const settle = (response: UpstreamResponse) => {
      settled = true;
      resolve(response);
    };
    const fail = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      if (!settled) {
        settled = true;
        // Headers came, the small body did not: say so (not "closed before an answer").
        reject(small && !(error instanceof BodyBrokeOff) ? new BodyBrokeOff(url.host, small.total, small.length, error) : error);
      } else if (stream) {
        try {
          stream.error(error);
        } catch {
          // Already closed or errored (the reader cancelled).
        }
      }
    };
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error('the client went away');
      if (control) control.abort(reason);
      else fail(reason);
    };
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        control = controller;
        if (signal.aborted) controller.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      },
      onResponseStart(controller, status, raw: IncomingHttpHeaders, statusText) {
        // 1xx (100 Continue) are interim: undici reports the final answer again.
        if (status < 200) return;
        const responseHeaders = new Headers();
        for (const name in raw) {
          const value = raw[name];
          if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
          else if (value !== undefined) responseHeaders.append(name, value);
        }
        const response: UpstreamResponse = { status, statusText: statusText ?? '', headers: responseHeaders, body: null };
        if (bodiless || status === 204 || status === 304) {
          // Nothing follows these headers (onResponseEnd comes next without data).
          settle(response);
          return;
        }
        const length = smallBodyLength(responseHeaders);
        if (length !== undefined) {
          small = { response, length, chunks: [], total: 0 };
          return;
        }
        response.body = new ReadableStream<Uint8Array>(
          {
            start(c) {
              stream = c;
            },
            pull() {
              if (paused) {
                paused = false;
                controller.resume();
              }
            },
            cancel(reason) {
              signal.removeEventListener('abort', onAbort);
              // Destroys the connection when the answer was not read to its end.
              controller.abort(reason instanceof Error ? reason : new Error('the reader cancelled the body'));
            },
          },
          { highWaterMark: BODY_BUFFER, size: (chunk) => chunk.byteLength },
        );
        settle(response);
      },
      onResponseData(controller, chunk) {
        if (small) {
          small.total += chunk.byteLength;
          if (small.total > small.length) {
            controller.abort(new BodyBrokeOff(url.host, small.total, small.length));
            return;
          }
          small.chunks.push(chunk);
          return;
        }
        if (!stream) return;
        streamed(chunk.byteLength);
        stream.enqueue(chunk);
        if ((stream.desiredSize ?? 1) <= 0 && !paused) {
          paused = true;
          controller.pause();
        }
      },
      onResponseEnd() {
        signal.removeEventListener('abort', onAbort);
        if (small) {
          const { response, chunks, total } = small;
          response.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
          settle(response);
        } else if (stream) {
          try {
            stream.close();
          } catch {
            // The reader cancelled already.
          }
        }
      },
      onResponseError(_controller, error) {
        fail(error);
      },
    };

    try {
      agent.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: outgoing.method as Dispatcher.HttpMethod,
          headers,
          // undici writes an async iterable with the declared Content-Length, or chunked.
          body: (outgoing.body && counted(outgoing.body)) as unknown as Dispatcher.DispatchOptions['body'],
          // undici closes the connection after every HEAD (in case a broken server sends a body
          // anyway): one new upstream connection per manifest/blob check. Registries answer HEAD
          // correctly; keep the connection.
          ...(bodiless && { reset: false }),
        },
        handler,
      );
    } catch (error) {
      fail(error as Error);
    }
  });
}

/** The request body as undici takes it (an async iterable), each chunk counted for `streamed`. */
async function* counted(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    streamed(chunk.byteLength);
    yield chunk;
  }
}

/** A small answer whose body did not match its Content-Length: cut short, or longer than declared. */
class BodyBrokeOff extends Error {
  constructor(host: string, received: number, declared: number, cause?: Error) {
    const what =
      received > declared ? `sent more than its Content-Length of ${declared} bytes` : `the answer broke off after ${received} of its ${declared} bytes`;
    const code = (cause as { code?: string } | undefined)?.code;
    super(`${host}: ${what}${code ? ` (${code})` : ''}`, { cause });
  }
}
