/**
 * IP address checks that run on every runtime, the Cloudflare worker included (no `node:net` there),
 * on ipaddr.js (the parser behind Express's trust-proxy): a client address is dotted-quad IPv4 or
 * IPv6 text, never the short or hexadecimal IPv4 forms some parsers accept.
 */
import ipaddr from 'ipaddr.js';

/** 4 or 6 for an IPv4 (four decimal parts) or IPv6 address; 0 for anything else, IPv6 zone ids (`fe80::1%eth0`) included. */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return 4;
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return 6;
  return 0;
}

/**
 * A test for "is this address in one of `entries`" (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`; already
 * checked by config/real-ip.ts). An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, how a dual-stack
 * socket names an IPv4 peer) matches IPv4 entries. Text that is no address matches nothing.
 */
export function addressMatcher(entries: readonly string[]): (address: string) => boolean {
  const ranges = entries.map((entry) => {
    const text = entry.trim();
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
  });
  return (text) => {
    if (ipFamily(text) === 0) return false;
    let address: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(text);
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
    return ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  };
}
