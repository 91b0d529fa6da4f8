import type { Exchange } from '../exchange.ts';

/**
 * Maps a URL an upstream built (upload `Location`, bearer `realm`, …) to the URL the client must
 * use. A URL points into an upstream when it names the upstream's host, or the Host we forwarded
 * (the origin built it from that), and lies under the upstream's path prefix. Anything else — a
 * CDN redirect, a third-party token server — is not ours: `undefined`, and it passes unchanged.
 */
export function toPublicUrl(exchange: Exchange, value: string): string | undefined {
  let target: URL;
  try {
    target = new URL(value, exchange.upstream.target(exchange.url.pathname));
  } catch {
    return undefined;
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return undefined;
  const sentHost = exchange.site.preserveHost ? exchange.url.host : exchange.upstream.host;
  for (const upstream of exchange.site.upstreamsByPrefix) {
    if (target.host !== upstream.host && target.host !== sentHost) continue;
    const { prefix } = upstream;
    if (prefix && target.pathname !== prefix && !target.pathname.startsWith(`${prefix}/`)) continue;
    const path = target.pathname.slice(prefix.length) || '/';
    return `${exchange.url.protocol}//${exchange.url.host}${path}${target.search}${target.hash}`;
  }
  return undefined;
}
