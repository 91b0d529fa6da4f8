/**
 * node:http's answer whose `end()` waits until the bytes written before it have left the process.
 *
 * Node marks an answer `finished` at `end()`, even while its socket still queues bytes for a client
 * that reads slowly, and `server.closeIdleConnections()` (which `server.close()` and the drain on
 * SIGTERM call) destroys every connection whose request was read and whose answer is finished:
 * those queued bytes with it. A paused `docker pull` was cut short on SIGTERM that way whenever
 * its last megabytes fitted in the buffers before the drain looked (Node 20 lib/_http_server.js,
 * `closeIdleConnections` skips only answers not yet finished). Deferring `end()` until the queue
 * has gone to the kernel keeps such an answer unfinished, so the drain waits for it as for any
 * transfer in flight (and `timeouts.shutdownGrace` still bounds the wait).
 */
import { ServerResponse } from 'node:http';

const NOTHING = Buffer.alloc(0);

export class FlushedEndResponse extends ServerResponse {
  /** As ServerResponse's `end`, later when the socket still queues bytes: after they were written out. */
  override end(...args: unknown[]): this {
    const socket = this.socket;
    if (!socket || socket.writableLength === 0 || this.writableEnded || socket.destroyed) return (super.end as (...a: unknown[]) => this)(...args);
    // A write of nothing calls back once every write queued before it has been handed to the kernel.
    socket.write(NOTHING, (error) => {
      if (error || this.destroyed || socket.destroyed) return;
      (super.end as (...a: unknown[]) => this)(...args);
    });
    return this;
  }
}
