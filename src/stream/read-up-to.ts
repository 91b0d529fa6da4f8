/**
 * Reads `body` whole if it holds at most `cap` bytes; else a stream that replays what was read,
 * then the rest (so the caller can still pass it on untouched, or cancel it). `onChunk` runs for
 * each chunk read here (an idle timer's touch).
 */
export async function readUpTo(
  body: ReadableStream<Uint8Array>,
  cap: number,
  onChunk?: () => void,
): Promise<{ whole: true; bytes: Uint8Array } | { whole: false; rest: ReadableStream<Uint8Array> }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onChunk?.();
    chunks.push(value);
    total += value.byteLength;
    if (total > cap) {
      const rest = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const chunk = chunks.shift();
          if (chunk) return controller.enqueue(chunk);
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return { whole: false, rest };
    }
  }
  // One chunk (the common case for small answers): no copy.
  if (chunks.length === 1) return { whole: true, bytes: chunks[0]! };
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { whole: true, bytes };
}
