/**
 * The PROXY protocol (v1 text and v2 binary) a balancer puts before the first byte of each
 * connection (HAProxy `send-proxy` / `send-proxy-v2`, AWS NLB, nginx `proxy_protocol on`), read
 * on listeners with `"proxyProtocol": true`. Protocol facts from haproxy's doc/proxy-protocol.txt:
 * v1 is one US-ASCII line of at most 107 bytes ending in CRLF; v2 is a 16-byte block (12-byte
 * signature, version 2 and command, family and protocol, length) and `length` more bytes of
 * addresses and TLVs. A receiver must not guess whether a header is there, must drop a connection
 * whose header does not match exactly, and uses the real endpoints for v1 `UNKNOWN` and v2 `LOCAL`
 * (a balancer's own health checks). The source address found is the client's; everything after
 * the header is the connection's data as usual (an HTTP request, or a TLS handshake).
 */
import { isIP, type Socket } from 'node:net';

/** The source of the proxied connection; absent for v1 `UNKNOWN`, v2 `LOCAL` and v2 families without an IP address. */
export interface ProxySource {
  address: string;
  port: number;
}

export type ProxyHeaderRead =
  /** More bytes are needed before anything can be said. */
  | { status: 'incomplete' }
  /** Not a PROXY header, or a broken one: the connection must be closed. */
  | { status: 'invalid'; reason: string }
  /** A whole header of `length` bytes; `source` is the client when the header names one. */
  | { status: 'complete'; version: 1 | 2; length: number; source?: ProxySource };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** "PROXY UNKNOWN ffff:…:ffff ffff:…:ffff 65535 65535\r\n" */
const V1_MAX = 107;

/** Whether `bytes` starts like `prefix` as far as both go. */
const startsLike = (bytes: Uint8Array, prefix: Uint8Array): boolean => {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
};

/**
 * Reads the PROXY header at the start of `bytes` (what a connection has received so far). Never
 * throws: says whether more bytes are needed, the header is invalid (close the connection), or
 * complete (its length, and the client's address when it carries one).
 */
export function readProxyHeader(bytes: Uint8Array): ProxyHeaderRead {
  if (bytes.length === 0) return { status: 'incomplete' };
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < 16 ? { status: 'incomplete' } : readV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return readV1(bytes);
  return { status: 'invalid', reason: 'no PROXY protocol header (v1 "PROXY …" or the v2 signature) at the start of the connection' };
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function readV1(bytes: Uint8Array): ProxyHeaderRead {
  // The line ends at the first CRLF; a CR or LF alone is a broken line, said as soon as it is seen.
  let end = -1;
  for (let i = 0; i < Math.min(bytes.length, V1_MAX); i++) {
    const byte = bytes[i];
    if (byte === 0x0a) return { status: 'invalid', reason: 'PROXY v1 line with a lone LF' };
    if (byte !== 0x0d) continue;
    if (i + 1 === bytes.length) return { status: 'incomplete' };
    if (bytes[i + 1] !== 0x0a) return { status: 'invalid', reason: 'PROXY v1 line with a lone CR' };
    end = i;
    break;
  }
  if (end < 0) return bytes.length >= V1_MAX ? { status: 'invalid', reason: 'PROXY v1 line without CRLF in its first 107 bytes' } : { status: 'incomplete' };
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  const length = end + 2;
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') return { status: 'complete', version: 1, length };
  const [, family, source, destination, sourcePort, destinationPort, ...extra] = fields;
  const want = family === 'TCP4' ? 4 : family === 'TCP6' ? 6 : 0;
  if (!want) return { status: 'invalid', reason: `PROXY v1 protocol ${JSON.stringify(family)} (TCP4, TCP6 or UNKNOWN)` };
  const valid =
    extra.length === 0 &&
    [source, destination].every((address) => address !== undefined && !address.includes('%') && isIP(address) === want) &&
    [sourcePort, destinationPort].every((port) => port !== undefined && PORT.test(port) && Number(port) <= 65535);
  if (!valid) return { status: 'invalid', reason: `PROXY v1 line not of the form "PROXY ${family} <source> <destination> <port> <port>"` };
  return { status: 'complete', version: 1, length, source: { address: source!, port: Number(sourcePort) } };
}

function readV2(bytes: Uint8Array): ProxyHeaderRead {
  const versionCommand = bytes[12]!;
  const familyProtocol = bytes[13]!;
  const length = 16 + ((bytes[14]! << 8) | bytes[15]!);
  if (versionCommand >> 4 !== 2) return { status: 'invalid', reason: `PROXY v2 signature with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { status: 'invalid', reason: `PROXY v2 command ${command} (0 LOCAL or 1 PROXY)` };
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family > 3 || protocol > 2) return { status: 'invalid', reason: `PROXY v2 family/protocol 0x${familyProtocol.toString(16).padStart(2, '0')}` };
  if (bytes.length < length) return { status: 'incomplete' };
  // LOCAL: the balancer's own connection (health checks); the addresses, if any, are ignored.
  if (command === 0) return { status: 'complete', version: 2, length };
  // Addresses then (TCP/UDP) ports; what follows them up to `length` are TLVs, skipped.
  const at = 16;
  if (family === 1 && protocol !== 0) {
    if (length < at + 12) return { status: 'invalid', reason: 'PROXY v2 IPv4 header shorter than its addresses' };
    const address = `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
    return { status: 'complete', version: 2, length, source: { address, port: (bytes[at + 8]! << 8) | bytes[at + 9]! } };
  }
  if (family === 2 && protocol !== 0) {
    if (length < at + 36) return { status: 'invalid', reason: 'PROXY v2 IPv6 header shorter than its addresses' };
    return {
      status: 'complete',
      version: 2,
      length,
      source: { address: ipv6Text(bytes.subarray(at, at + 16)), port: (bytes[at + 32]! << 8) | bytes[at + 33]! },
    };
  }
  // UNSPEC or AF_UNIX: nothing that is an IP address; the real endpoints stand.
  return { status: 'complete', version: 2, length };
}

/** RFC 5952 text of 16 bytes: lower case, the longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function ipv6Text(bytes: Uint8Array): string {
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (list: number[]) => list.map((group) => group.toString(16)).join(':');
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

/** Bytes kept at most while a header is incomplete: v2's 16 + 65535 (its length field's largest value). */
const MOST = 16 + 0xffff;

/**
 * Waits for the PROXY header on a just-accepted socket. `onHeader` gets the header's source (the
 * client) once it is whole, with the bytes after it put back into the socket (paused, unread),
 * so the HTTP or TLS server it is handed to reads them first. A connection whose first bytes are
 * not a valid header, that closes first, or that sends nothing whole within `timeoutMs` is
 * destroyed (nothing of it reaches the server); `onRefused` hears why, once.
 */
export function awaitProxyHeader(
  socket: Socket,
  timeoutMs: number,
  onHeader: (source: ProxySource | undefined) => void,
  onRefused: (reason: string) => void = () => {},
): void {
  let received: Buffer = Buffer.alloc(0);
  const refuse = (reason: string) => {
    cleanup();
    onRefused(reason);
    socket.destroy();
  };
  const timer = setTimeout(() => refuse(`no whole PROXY protocol header within ${timeoutMs / 1000} s`), timeoutMs);
  const onData = (chunk: Buffer) => {
    received = received.length ? Buffer.concat([received, chunk]) : chunk;
    const read = readProxyHeader(received);
    if (read.status === 'incomplete') {
      if (received.length > MOST) refuse('PROXY protocol header too long');
      return;
    }
    if (read.status === 'invalid') return refuse(read.reason);
    cleanup();
    socket.pause();
    if (received.length > read.length) socket.unshift(received.subarray(read.length));
    onHeader(read.source);
  };
  const onEnd = () => refuse('connection closed before its PROXY protocol header was whole');
  const onError = () => refuse('connection failed before its PROXY protocol header was whole');
  function cleanup(): void {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
  }
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
}
