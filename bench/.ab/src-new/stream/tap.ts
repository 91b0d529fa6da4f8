export interface TapHooks {
  /** Runs for each chunk with the running byte count; throwing errors the stream with that error. */
  onChunk?(chunk: Uint8Array, total: number): void;
  /** Runs once: at the end, on an error, or when the reader cancels (the client went away). */
  onEnd?(error?: unknown): void;
  /** Runs when the source fails or `onChunk` throws, not when the reader cancels; before `onEnd`. */
  onError?(error: unknown): void;
}

/**
 * Passes a stream through chunk by chunk, pulling only as fast as the reader reads, so
 * backpressure holds end to end and nothing is buffered beyond the chunk in hand.
 */
export function tapStream(source: ReadableStream<Uint8Array>, hooks: TapHooks): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let total = 0;
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    hooks.onEnd?.(error);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            end();
            return;
          }
          total += value.byteLength;
          hooks.onChunk?.(value, total);
          controller.enqueue(value);
        } catch (error) {
          controller.error(error);
          void reader.cancel(error).catch(() => {});
          if (!ended) hooks.onError?.(error);
          end(error);
        }
      },
      cancel(reason) {
        end(reason ?? new Error('cancelled'));
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
