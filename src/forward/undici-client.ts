import { Agent, errors, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { countBody, type BodyCount, type NodeSink } from './counted-body.ts';
import { IdleSweep, type Transfer } from './idle.ts';
import { streamed } from './scavenge.ts';
import { SmallBody } from '../stream/small-body.ts';
import { idleCut, upstreamError } from './upstream-error.ts';
import { HeaderFields } from '../header-fields.ts';
import { smallBodyLength, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';

/**
 * Bytes of an answer's body held in its web stream before the upstream socket is paused: four
 * socket reads (Node reads 64 KiB at a time), so pausing is rare while the client keeps up.
 */
const BODY_BUFFER = 256 * 1024;

/**
 * Node's upstream client: undici's dispatcher, driven through its handler callbacks. undici never
 * decodes bodies (global fetch would gunzip them) and sends the Host we set. The callbacks feed
 * the answer straight into one web stream (or, for small answers, into stream/small-body.ts):
 * `undici.request` would put a Node Readable in between, which then has to be turned into a web
 * stream again, costing a stream, an async iterator and a promise per chunk. Idle timing is the
 * client's IdleSweep (undici's own header/body timers are off), failures are worded by
 * forward/upstream-error.ts.
 */
export function undiciClient(timeouts: ClientTimeouts): UpstreamClient {
  const agent = new Agent({ connect: { timeout: timeouts.connect * 1000 }, headersTimeout: 0, bodyTimeout: 0 });
  const sweep = new IdleSweep(timeouts.idle * 1000);
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const transfer = sweep.start((expired) => expired.cut?.(idleCut(timeouts)));
      try {
        return await dispatch(agent, outgoing, transfer);
      } catch (error) {
        transfer.end();
        if (outgoing.signal.aborted) throw outgoing.signal.reason ?? error;
        throw upstreamError(error, outgoing.url, timeouts, { idle: transfer.expired, connect: error instanceof errors.ConnectTimeoutError });
      }
    },
    close: async () => {
      sweep.stop();
      await agent.close();
    },
  };
}

/**
 * One request through `agent`. Resolves at the answer's headers with a streamed body, or at its
 * end for bodies of at most SMALL_BODY declared bytes (read whole: one write to the client later)
 * and for answers without a body. Rejects with undici's error (or the signal's reason) when the
 * request fails before that; a failure later errors the body stream.
 */
function dispatch(agent: Agent, outgoing: OutgoingRequest, transfer: Transfer): Promise<UpstreamResponse> {
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
    // Its bytes and end, for forward (forward/counted-body.ts).
    let count: BodyCount | undefined;
    const ended = (error?: unknown) => count?.end(error);
    let small: { response: UpstreamResponse; body: SmallBody } | undefined;
    let paused = false;
    // Piped to a Node writable (the Node adapter, see pipeTo): chunks go there instead of the stream.
    let out: NodeSink | undefined;
    // Chunks that came while the stream's queue was still being moved to `out`; `finished`: the upstream ended meanwhile.
    let backlog: Uint8Array[] | undefined;
    let finished = false;
    // The streamed answer's body (the stream `stream` controls).
    let body: ReadableStream<Uint8Array> | undefined;

    const settle = (response: UpstreamResponse) => {
      settled = true;
      resolve(response);
    };
    const fail = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      transfer.end();
      if (!settled) {
        settled = true;
        // Headers came, the small body did not: say so (not "closed before an answer").
        reject(small ? small.body.brokeOff(error) : error);
      } else if (out) {
        // The client sees its transfer break (a short body against the declared length).
        if (!out.destroyed) out.destroy(error);
        ended(error);
      } else if (stream) {
        try {
          stream.error(error);
        } catch {
          // Already closed or errored (the reader cancelled).
        }
        ended(error);
      }
    };
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error('the client went away');
      if (control) control.abort(reason);
      else fail(reason);
    };
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    // The idle sweep cuts a stalled transfer through the same door as the client leaving.
    transfer.cut = (reason) => (control ? control.abort(reason) : fail(reason));
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        control = controller;
        if (signal.aborted) controller.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      },
      onResponseStart(controller, status, raw: IncomingHttpHeaders, statusText) {
        transfer.touch();
        // 1xx (100 Continue) are interim: undici reports the final answer again.
        if (status < 200) return;
        const responseHeaders = HeaderFields.fromParsed(raw);
        const response: UpstreamResponse = { status, statusText: statusText ?? '', headers: responseHeaders, body: null };
        if (bodiless || status === 204 || status === 304) {
          // Nothing follows these headers (onResponseEnd comes next without data).
          transfer.end();
          settle(response);
          return;
        }
        const length = smallBodyLength(responseHeaders);
        if (length !== undefined) {
          small = { response, body: new SmallBody(length) };
          return;
        }
        response.body = new ReadableStream<Uint8Array>(
          {
            start(c) {
              stream = c;
            },
            pull() {
              // The reader asking for more is progress too (a slow client, not a stalled upstream).
              transfer.touch();
              if (paused) {
                paused = false;
                controller.resume();
              }
            },
            cancel(reason) {
              signal.removeEventListener('abort', onAbort);
              transfer.end();
              ended(reason ?? new Error('cancelled'));
              // Destroys the connection when the answer was not read to its end.
              controller.abort(reason instanceof Error ? reason : new Error('the reader cancelled the body'));
            },
          },
          { highWaterMark: BODY_BUFFER, size: (chunk) => chunk.byteLength },
        );
        body = response.body;
        count = countBody(body, signal);
        count.pipe = pipeTo;
        settle(response);
      },
      onResponseData(controller, chunk) {
        transfer.touch();
        if (small) {
          const over = small.body.add(chunk);
          if (over) controller.abort(over);
          return;
        }
        if (!stream) return;
        streamed(chunk.byteLength);
        count!.bytes += chunk.byteLength;
        if (out) {
          if (backlog) backlog.push(chunk);
          else write(chunk);
          return;
        }
        stream.enqueue(chunk);
        if ((stream.desiredSize ?? 1) <= 0 && !paused) {
          paused = true;
          controller.pause();
        }
      },
      onResponseEnd() {
        signal.removeEventListener('abort', onAbort);
        transfer.end();
        if (small) {
          try {
            small.response.body = small.body.bytes();
          } catch (error) {
            settled = true;
            return reject(error);
          }
          settle(small.response);
        } else if (out) {
          finished = true;
          if (!backlog) finish();
        } else if (stream) {
          try {
            stream.close();
          } catch {
            // The reader cancelled already.
          }
          ended();
        }
      },
      onResponseError(_controller, error) {
        fail(error);
      },
    };

    /**
     * Node streams from here on: what the web stream holds already is moved to `sink` first, then
     * each chunk is written as undici hands it over. The upstream pauses while more than
     * BODY_BUFFER bytes wait in the sink (not at its 16 KiB highWaterMark: that pauses after every
     * 64 KiB read) and resumes at its 'drain'; the answer is counted as ended at the sink's
     * 'finish', and a client that closes before that aborts the upstream.
     */
    function pipeTo(sink: NodeSink): void {
      if (out || !stream) throw new Error('the answer is piped already');
      out = sink;
      backlog = [];
      if (sink.destroyed) return void control?.abort(new Error('the client went away'));
      sink.on('drain', () => {
        // A client reading is progress too (a slow client, not a stalled upstream).
        transfer.touch();
        if (paused && sink.writableLength < BODY_BUFFER) {
          paused = false;
          control?.resume();
        }
      });
      sink.on('close', () => {
        if (sink.writableFinished) return;
        const reason = new Error('the client went away');
        signal.removeEventListener('abort', onAbort);
        transfer.end();
        ended(reason);
        control?.abort(reason);
      });
      void moveQueue(body!).catch((error) => fail(error as Error));
    }
    /** The chunks queued in the web stream before pipeTo, then the backlog, into `out`. */
    async function moveQueue(queued: ReadableStream<Uint8Array>): Promise<void> {
      const reader = queued.getReader();
      // Read only what is queued: a read on an empty open stream would wait for chunks that now go to the backlog.
      while ((stream!.desiredSize ?? 0) < BODY_BUFFER) {
        const { value, done } = await reader.read();
        // Closed before pipeTo: the upstream had ended already.
        if (done) finished = true;
        if (done) break;
        write(value);
      }
      reader.releaseLock();
      for (const chunk of backlog!) write(chunk);
      backlog = undefined;
      if (finished) finish();
    }
    function write(chunk: Uint8Array): void {
      if (out!.destroyed) return;
      out!.write(chunk);
      if (out!.writableLength >= BODY_BUFFER && !paused) {
        paused = true;
        control?.pause();
      }
    }
    function finish(): void {
      out!.on('finish', () => ended());
      out!.end();
    }

    try {
      agent.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: outgoing.method as Dispatcher.HttpMethod,
          headers,
          // undici writes an async iterable with the declared Content-Length, or chunked.
          body: (outgoing.body && counted(outgoing.body, transfer)) as unknown as Dispatcher.DispatchOptions['body'],
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

/** The request body as undici takes it (an async iterable), each chunk counted for `streamed` and as progress. */
async function* counted(body: ReadableStream<Uint8Array>, transfer: Transfer): AsyncGenerator<Uint8Array> {
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    transfer.touch();
    streamed(chunk.byteLength);
    yield chunk;
  }
}
