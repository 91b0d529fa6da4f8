/**
 * A request's body on node:http (Node, and Bun where it serves through its node:http, on-bun.ts):
 * one web stream over the IncomingMessage, the chunks passed on as they come. @hono/node-server's
 * body is a stream pulling from `Readable.toWeb(incoming)`, which copies every chunk (`new
 * Uint8Array` of the Buffer) into a second queue. Measured with bench/rss-trace.ts, 4 GiB up,
 * alternating with node-server's body: on Bun 1.4.5 (--bun-http) peak RSS 140–158 → 126–136 MB,
 * CPU 1.3–1.9 → 1.1–1.4 s/GiB (the dead copies sit in Bun's allocator, outside what JSC counts);
 * on Node 20 peak RSS 98–102 → 90–92 MB, CPU 1.0–1.2 → 0.83 s/GiB.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Gives `request` (node-server's lightweight Request for `incoming`) a `body` read straight from
 * `incoming`, made when first asked for, and a `bodyUsed` that says whether it is being read. Pulled
 * one chunk at a time (the IncomingMessage paused between reads, so the client's socket holds the
 * rest); the stream errors when the request ends before its body did (the client went away) or
 * `incoming` fails. Cancelling it only stops passing chunks on: as with node-server's body, the
 * server drains or closes what the client still sends once the answer is out (an error answer to
 * an unread upload must still reach the client). Only for a method with a body.
 */
export function withIncomingBody(request: Request, incoming: IncomingMessage): void {
  let stream: ReadableStream<Uint8Array> | undefined;
  Object.defineProperty(request, 'body', { get: () => (stream ??= incomingStream(incoming)), configurable: true, enumerable: true });
  Object.defineProperty(request, 'bodyUsed', { get: () => stream?.locked ?? false, configurable: true, enumerable: true });
}

/** `incoming`'s bytes as a web stream without a queue of its own (highWaterMark 0): each read resumes `incoming` for one chunk. */
function incomingStream(incoming: IncomingMessage): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const fail = (error: Error) => {
          if (settled) return;
          settled = true;
          controller.error(error);
        };
        if (incoming.readableEnded) {
          settled = true;
          controller.close();
          return;
        }
        incoming.on('data', (chunk: Uint8Array) => {
          // Data after a cancel (node-server drains what the client still sends) goes nowhere.
          if (settled) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
        });
        incoming.once('end', () => {
          if (settled) return;
          settled = true;
          controller.close();
        });
        incoming.once('error', fail);
        // Closed before its end: the client went away mid-body (a short body must break the upload).
        incoming.once('close', () => fail(new Error('the request body ended early: the client closed the connection')));
        incoming.pause();
      },
      pull() {
        incoming.resume();
      },
      cancel() {
        settled = true;
      },
    },
    { highWaterMark: 0 },
  );
}
