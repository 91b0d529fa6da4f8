import type { Readable } from 'node:stream';

/**
 * A web ReadableStream over a Node Readable, pulled one chunk at a time (backpressure: the Node
 * stream is read only as fast as the consumer asks). Cancelling destroys the Node stream.
 *
 * Why not `Readable.toWeb`: on Node 20, cancelling its stream while the Node side still has data
 * buffered (a failover that drops a 503's body right after its headers) later throws an uncaught
 * `ERR_INVALID_STATE: Controller is already closed` and takes the process down.
 */
export function nodeToWeb(body: Readable): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) {
        body.destroy(reason instanceof Error ? reason : undefined);
        await chunks.return?.().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
