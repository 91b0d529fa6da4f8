/**
 * Reads a small answer to its end, so its connection can be reused; gives up past `cap` bytes
 * (health checks and probes: the status has decided already). Never throws.
 */
export async function drain(body: ReadableStream<Uint8Array> | Uint8Array | null, cap: number): Promise<void> {
  // Bytes a client read whole already left nothing on the connection.
  if (!body || body instanceof Uint8Array) return;
  const reader = body.getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => {});
        return;
      }
    }
  } catch {
    // The status decided; a broken body does not change it.
  }
}
