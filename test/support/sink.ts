import { Writable } from 'node:stream';
import { expect } from 'vitest';
import type { UpstreamResponse } from '../../src/forward/client.ts';
import { countOf, pipeOf } from '../../src/forward/counted-body.ts';

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

/**
 * A streamed answer's pipe (the Node adapter's path, registered under the request's `signal`) and
 * its count: asserts the pipe carries the answer's own body; `ended()` is how the count ended
 * (`undefined` while it goes on).
 */
export function pipedAnswer(answer: UpstreamResponse, signal: AbortSignal) {
  const piped = pipeOf(signal);
  expect(piped?.body).toBe(answer.body);
  const count = countOf(answer.body)!;
  let ended: { error?: unknown } | undefined;
  count.whenEnded((error) => {
    ended = { error };
  });
  return { pipe: piped!.pipe, count, ended: () => ended };
}
