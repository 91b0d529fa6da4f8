/** How an answer leaves workerd as the router built it. */
import type { FixedLengthStreamClass } from './types.ts';

const FixedLengthStream = (globalThis as { FixedLengthStream?: FixedLengthStreamClass }).FixedLengthStream;

/**
 * The answer as workerd must send it. A body already encoded as its Content-Encoding says must not
 * be compressed again. A streamed body (the router taps it: a stream made in JavaScript) would go
 * out chunked, without the Content-Length the upstream declared: through a FixedLengthStream of
 * that length it keeps it, and a body that ends short or runs long breaks the transfer instead of
 * ending it as if whole.
 */
export async function asSent(response: Response | Promise<Response>): Promise<Response> {
  const sent = await response;
  const encoded = sent.headers.has('content-encoding');
  const declared = sent.headers.get('content-length');
  const sized = sent.body !== null && FixedLengthStream !== undefined && declared !== null && /^\d+$/.test(declared);
  if (!encoded && !sized) return sent;
  let body: ReadableStream<Uint8Array> | null = sent.body;
  if (sized && body) {
    const { readable, writable } = new FixedLengthStream(Number(declared));
    void body.pipeTo(writable).catch(() => {});
    body = readable;
  }
  return new Response(
    body as BodyInit | null,
    { status: sent.status, statusText: sent.statusText, headers: sent.headers, ...(encoded && { encodeBody: 'manual' }) } as ResponseInit,
  );
}
