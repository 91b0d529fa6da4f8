/** Headers that describe one connection, not the message: they never cross the proxy. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

export function dropHopByHopHeaders(headers: Headers): void {
  const listed = headers.get('connection');
  if (listed) for (const name of listed.split(',')) headers.delete(name.trim());
  for (const name of HOP_BY_HOP) headers.delete(name);
}
