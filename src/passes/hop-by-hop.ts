/** Headers that describe one connection, not the message: they never cross the proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Removes the hop-by-hop fields and those the Connection field names (RFC 9110 §7.6.1). One walk
 * over the fields instead of a lookup per known name: each Headers call validates its argument,
 * and this runs twice per request.
 */
export function dropHopByHopHeaders(headers: Headers): void {
  let doomed: string[] | undefined;
  headers.forEach((value, name) => {
    if (HOP_BY_HOP.has(name)) (doomed ??= []).push(name);
    if (name === 'connection') for (const listed of value.split(',')) if (listed.trim()) (doomed ??= []).push(listed.trim().toLowerCase());
  });
  if (doomed) for (const name of doomed) headers.delete(name);
}
