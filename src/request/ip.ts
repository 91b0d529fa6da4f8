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

/** A block of addresses: its network address and prefix length (32 or 128 for one address). */
export type Block = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * A `realIp.from` entry (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`; checked by config/real-ip.ts) as
 * the block it means: spaces around it ignored, an IPv4-mapped IPv6 entry (`::ffff:127.0.0.1`,
 * `::ffff:127.0.0.0/104`) taken as the IPv4 one (a peer in that form is compared as IPv4), the
 * address bits below the prefix cleared (nginx: "low address bits … are meaningless"). Throws on text
 * that is no address or block.
 */
export function blockOf(entry: string): Block {
  const text = entry.trim();
  let [address, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), -1];
  if (bits < 0) bits = address.kind() === 'ipv4' ? 32 : 128;
  if (address.kind() === 'ipv6' && bits >= 96 && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const network =
    address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${address}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${address}/${bits}`);
  return [network, bits];
}

/** Whether a CIDR entry (`10.0.0.1/8`) sets address bits below its prefix length, which `blockOf` clears. */
export function lowBitsSet(entry: string): boolean {
  const text = entry.trim();
  if (!text.includes('/')) return false;
  return ipaddr.parseCIDR(text)[0].toNormalizedString() !== blockOf(text)[0].toNormalizedString();
}

/** `10.0.0.0/8`, or `127.0.0.1` for a block of one address. */
export function blockText([address, bits]: Block): string {
  return bits === (address.kind() === 'ipv4' ? 32 : 128) ? address.toString() : `${address}/${bits}`;
}

/** Whether every address of `inner` is in `outer`. */
export function blockCovers(outer: Block, inner: Block): boolean {
  return outer[0].kind() === inner[0].kind() && outer[1] <= inner[1] && inner[0].match(outer[0], outer[1]);
}

/**
 * A test for "is this address in one of `entries`" (as `blockOf` reads them). An IPv4-mapped IPv6
 * address (`::ffff:10.1.2.3`, how a dual-stack socket names an IPv4 peer) is compared as IPv4, so
 * it matches IPv4 entries. Text that is no address matches nothing.
 */
export function addressMatcher(entries: readonly string[]): (address: string) => boolean {
  const ranges = entries.map(blockOf);
  return (text) => {
    if (ipFamily(text) === 0) return false;
    let address: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(text);
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
    return ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  };
}
