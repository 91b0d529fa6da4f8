import { tapStream, type TapHooks } from '../stream/tap.ts';

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`request body exceeds the site's limit of ${limit} bytes`);
  }
}

/**
 * Counts a body as it streams; with a limit, errors the stream as soon as the count passes it,
 * so the upstream never receives the whole over-size body.
 */
export function tallyBody(
  body: ReadableStream<Uint8Array>,
  onTotal: (total: number) => void,
  limit = 0,
  onEnd?: TapHooks['onEnd'],
): ReadableStream<Uint8Array> {
  return tapStream(body, {
    onChunk(_chunk, total) {
      onTotal(total);
      if (limit > 0 && total > limit) throw new BodyTooLargeError(limit);
    },
    onEnd,
  });
}
