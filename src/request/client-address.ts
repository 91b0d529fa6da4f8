/**
 * The client's address, found once per request before the decision: the TCP peer (or the address
 * a PROXY protocol header gave for the connection, src/adapter/proxy-protocol.ts), unless that
 * peer is a proxy listed in `realIp.from`; then the address its header names, as nginx's real_ip
 * module finds it. Push-session keys, the access log and the X-Forwarded-For / X-Real-IP sent
 * upstream all use the address found here.
 */
import type { RealIpConfig } from '../config/real-ip.ts';
import { addressMatcher, ipFamily } from './ip.ts';

/** Finds the client of one request from its peer's address and its headers. */
export type ClientAddressOf = (peer: string, headers: Headers) => string;

/** The peer as is: no proxy in front is trusted (no `realIp`). */
const peerOnly: ClientAddressOf = (peer) => peer;

/**
 * One hop of X-Forwarded-For as an address, or undefined when it is none: `1.2.3.4`, `2001:db8::1`,
 * and the forms with a port some balancers write (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
 */
export function hopAddress(hop: string): string | undefined {
  const text = hop.trim();
  if (ipFamily(text)) return text;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed && ipFamily(bracketed[1]!) === 6) return bracketed[1];
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  if (withPort && ipFamily(withPort[1]!) === 4) return withPort[1];
  return undefined;
}

/** The trusted proxies (`realIp.from`) as a test of an address; IPv4-mapped IPv6 peers match IPv4 entries. */
export function trustedProxies(from: readonly string[]): (address: string) => boolean {
  return addressMatcher(from);
}

/**
 * How this router finds the client (`realIp` from the config; none: the peer). With a trusted
 * peer the header's hops are read right to left: each trusted one is passed over (only the last
 * one when `recursive` is false) and the first untrusted one is the client. A hop that is not an
 * address stops the walk: the client is then the last address vouched for (a trusted proxy). A
 * peer that is not trusted is the client whatever it sends.
 */
export function clientAddressFinder(realIp: RealIpConfig | undefined): ClientAddressOf {
  if (!realIp) return peerOnly;
  const trusted = trustedProxies(realIp.from);
  const header = realIp.header.toLowerCase();
  return (peer, headers) => {
    if (!trusted(peer)) return peer;
    const value = headers.get(header);
    if (!value) return peer;
    const hops = value.split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!trusted(client)) break;
      const hop = hopAddress(hops[i]!);
      if (hop === undefined) break;
      client = hop;
      if (!realIp.recursive) break;
    }
    return client;
  };
}
