import type { Exchange } from '../exchange.ts';

/**
 * Maps a URL an upstream built (upload `Location`, bearer `realm`, …) to the URL the client must
 * use. A URL points into an upstream when it names the upstream's host, or the Host we forwarded
 * (the origin built it from that), and lies under the upstream's path prefix. Anything else — a
 * CDN redirect, a third-party token server — is not ours: `undefined`, and it passes unchanged.
 */
export function toPublicUrl(exchange: Exchange, value: string): string | undefined {
  let target: URL;
  const repaired = repairDoubledPort(value);
  try {
    target = new URL(repaired, exchange.upstream.target(exchange.upstreamPath ?? exchange.url.pathname));
  } catch {
    return undefined;
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return undefined;
  const sentHost = exchange.site.preserveHost ? exchange.url.host : exchange.upstream.host;
  // An origin that ignores X-Forwarded-Port builds URLs from the bare forwarded name.
  const forwardedName = exchange.site.forwardedHost ? exchange.url.hostname : undefined;
  const ours = (host: string) => host === sentHost || host === exchange.url.host || (forwardedName !== undefined && host === forwardedName);
  for (const upstream of exchange.site.upstreamsByPrefix) {
    if (target.host !== upstream.host && !ours(target.host)) continue;
    const { prefix } = upstream;
    if (prefix && target.pathname !== prefix && !target.pathname.startsWith(`${prefix}/`)) continue;
    const path = target.pathname.slice(prefix.length) || '/';
    return `${exchange.url.protocol}//${exchange.url.host}${path}${target.search}${target.hash}`;
  }
  // A repaired URL that names the public host is the client's own, whatever its path.
  if (repaired !== value && ours(target.host)) return `${exchange.url.protocol}//${exchange.url.host}${target.pathname}${target.search}${target.hash}`;
  return undefined;
}

/**
 * `https://host:5001:5001/v2/token` → `https://host:5001/v2/token`: the authority Nexus 3.78+
 * builds when the forwarded host already carried the port (sonatype/nexus-public #611, #651). It
 * is no URL at all, so it would pass unmapped. Only an exact repetition of the port is repaired;
 * whether the result names us is toPublicUrl's question.
 */
export function repairDoubledPort(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?(?:\[[^\]/]*\]|[^/?#:@]*))(:\d+)\2(?=[/?#]|$)/i, '$1$2');
}
