import { Writable } from 'node:stream';

/**
 * A Node writable standing in for a client's socket (the Node adapter's pipe target): it collects
 * what it is given, copying each chunk only after the write returned, as a socket sends it later
 * (a buffer reused before its write completed shows as wrong bytes); `stalled`: it never takes a
 * chunk (a client that stopped reading). 16 KiB highWaterMark, as node:http's sockets.
 */
export function sink(stalled = false): Writable & { received: Buffer[] } {
  const received: Buffer[] = [];
  const writable = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      if (stalled) return;
      setImmediate(() => {
        received.push(Buffer.from(chunk));
        done();
      });
    },
  });
  return Object.assign(writable, { received });
}

/** Resolves once `condition()` holds, polling every 20 ms (the test's own timeout bounds it). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((done) => setTimeout(done, 20));
}
