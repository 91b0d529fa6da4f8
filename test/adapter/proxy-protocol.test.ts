/**
 * The PROXY protocol reader (src/adapter/proxy-protocol.ts) against headers built from haproxy's
 * doc/proxy-protocol.txt: v1 TCP4/TCP6/UNKNOWN, v2 IPv4/IPv6/LOCAL/UNSPEC with TLVs, truncated,
 * garbage and a header that arrives in pieces over a real TCP connection.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { awaitProxyHeader, ipv6Text, readProxyHeader } from '../../src/adapter/proxy-protocol.ts';

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: command (0 LOCAL, 1 PROXY), family/protocol byte, address block, TLVs. */
function v2(command: number, familyProtocol: number, addresses: number[], tlvs: number[] = []): Buffer {
  const body = [...addresses, ...tlvs];
  return Buffer.from([...SIGNATURE, 0x20 | command, familyProtocol, body.length >> 8, body.length & 0xff, ...body]);
}
const ipv4Block = [192, 0, 2, 10, 10, 0, 0, 1, 0xc3, 0x50, 0x01, 0xbb]; // 192.0.2.10:50000 → 10.0.0.1:443
const ipv6Block = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42],
  ...[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  0x04,
  0xd2,
  0x01,
  0xbb,
];
// PP2_TYPE_AUTHORITY "registry.example" and PP2_TYPE_NOOP of 3 bytes: skipped.
const tlvs = [0x02, 0x00, 16, ...Buffer.from('registry.example'), 0x04, 0x00, 0x03, 0, 0, 0];
const request = Buffer.from('GET /v2/ HTTP/1.1\r\nHost: registry.test\r\n\r\n');

describe('PROXY v1', () => {
  it('TCP4, TCP6 and UNKNOWN', () => {
    const line = 'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443\r\n';
    expect(readProxyHeader(Buffer.concat([Buffer.from(line), request]))).toEqual({
      status: 'complete',
      version: 1,
      length: line.length,
      source: { address: '192.0.2.10', port: 50000 },
    });
    expect(readProxyHeader(Buffer.from('PROXY TCP6 2001:db8::42 fd00::1 1234 443\r\n'))).toMatchObject({ source: { address: '2001:db8::42', port: 1234 } });
    expect(readProxyHeader(Buffer.from('PROXY UNKNOWN\r\nGET'))).toEqual({ status: 'complete', version: 1, length: 15 });
    expect(readProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n'))).toMatchObject({ status: 'complete', version: 1 });
  });

  it('incomplete until the CRLF, then every deviation is invalid', () => {
    for (const part of ['P', 'PROXY', 'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443', 'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443\r']) {
      expect(readProxyHeader(Buffer.from(part)).status, part).toBe('incomplete');
    }
    const invalid = [
      'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443\n',
      'PROXY TCP4 192.0.2.10 10.0.0.1 50000\r\n',
      'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443 7\r\n',
      'PROXY TCP4 192.0.2.010 10.0.0.1 50000 443\r\n',
      'PROXY TCP4 2001:db8::1 10.0.0.1 50000 443\r\n',
      'PROXY TCP6 192.0.2.10 fd00::1 50000 443\r\n',
      'PROXY TCP4 192.0.2.10 10.0.0.1 65536 443\r\n',
      'PROXY TCP4 192.0.2.10 10.0.0.1 050000 443\r\n',
      'PROXY TCP4  192.0.2.10 10.0.0.1 50000 443\r\n',
      'PROXY UDP4 192.0.2.10 10.0.0.1 50000 443\r\n',
      'PROXY TCP6 fe80::1%eth0 fd00::1 1 2\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}`,
      'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
      'proxy TCP4 192.0.2.10 10.0.0.1 50000 443\r\n',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
    ];
    for (const text of invalid) expect(readProxyHeader(Buffer.from(text, 'latin1')).status, JSON.stringify(text)).toBe('invalid');
  });
});

describe('PROXY v2', () => {
  it('TCP over IPv4 and IPv6, TLVs skipped by the length field', () => {
    const four = v2(1, 0x11, ipv4Block);
    expect(readProxyHeader(Buffer.concat([four, request]))).toEqual({
      status: 'complete',
      version: 2,
      length: 28,
      source: { address: '192.0.2.10', port: 50000 },
    });
    const six = v2(1, 0x21, ipv6Block, tlvs);
    expect(readProxyHeader(Buffer.concat([six, request]))).toEqual({
      status: 'complete',
      version: 2,
      length: 16 + 36 + tlvs.length,
      source: { address: '2001:db8::42', port: 1234 },
    });
  });

  it('LOCAL (health checks) and UNSPEC/UNIX: the real endpoints stand', () => {
    expect(readProxyHeader(v2(0, 0x00, []))).toEqual({ status: 'complete', version: 2, length: 16 });
    // LOCAL with addresses: they are skipped, not believed.
    expect(readProxyHeader(v2(0, 0x11, ipv4Block))).toEqual({ status: 'complete', version: 2, length: 28 });
    expect(readProxyHeader(v2(1, 0x00, []))).toEqual({ status: 'complete', version: 2, length: 16 });
    expect(readProxyHeader(v2(1, 0x31, new Array(216).fill(0)))).toEqual({ status: 'complete', version: 2, length: 232 });
  });

  it('truncated is incomplete; a wrong version, command, family or short address block is invalid', () => {
    const whole = v2(1, 0x21, ipv6Block, tlvs);
    for (const n of [1, 5, 12, 13, 15, 16, 40, whole.length - 1]) expect(readProxyHeader(whole.subarray(0, n)).status, `${n} bytes`).toBe('incomplete');
    const wrong = (index: number, value: number) => {
      const copy = Buffer.from(v2(1, 0x11, ipv4Block));
      copy[index] = value;
      return readProxyHeader(copy).status;
    };
    expect(wrong(12, 0x11)).toBe('invalid'); // version 1 in the binary format
    expect(wrong(12, 0x22)).toBe('invalid'); // command 2
    expect(wrong(13, 0x41)).toBe('invalid'); // family 4
    expect(wrong(13, 0x13)).toBe('invalid'); // protocol 3
    expect(wrong(4, 0x01)).toBe('invalid'); // signature
    expect(readProxyHeader(v2(1, 0x11, ipv4Block.slice(0, 8))).status).toBe('invalid');
    expect(readProxyHeader(v2(1, 0x21, ipv4Block)).status).toBe('invalid');
  });

  it('IPv6 text as RFC 5952 writes it', () => {
    const bytes = (groups: number[]) => Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    expect(ipv6Text(bytes([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]))).toBe('2001:db8::1:0:0:1');
    expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0, 0, 1]))).toBe('::1');
    expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0, 0, 0]))).toBe('::');
    expect(ipv6Text(bytes([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]))).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipv6Text(bytes([0xfe80, 0, 0, 0, 0, 0, 0, 0]))).toBe('fe80::');
    expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x020a]))).toBe('::ffff:192.0.2.10');
  });
});

describe('awaitProxyHeader on a TCP connection', () => {
  /** A server that reads the header, then everything after it; resolves with what it saw. */
  async function serverSeeing(timeoutMs = 5000) {
    const seen: Array<{ source?: string; data: string; refused?: string; closed: boolean }> = [];
    const accepted: Socket[] = [];
    const server = createServer((socket) => {
      accepted.push(socket);
      const record: (typeof seen)[number] = { data: '', closed: false };
      seen.push(record);
      socket.on('close', () => (record.closed = true));
      awaitProxyHeader(
        socket,
        timeoutMs,
        (source) => {
          record.source = source ? `${source.address}:${source.port}` : 'none';
          socket.on('data', (chunk: Buffer) => (record.data += chunk.toString('latin1')));
          socket.resume();
        },
        (reason) => (record.refused = reason),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    return { seen, accepted, port, close: () => server.close() };
  }
  const until = async (condition: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met within 5 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('a header split across TCP segments, with the request after it, byte for byte', async () => {
    const server = await serverSeeing();
    try {
      const whole = Buffer.concat([v2(1, 0x11, ipv4Block, tlvs), request]);
      const client = connect(server.port, '127.0.0.1');
      client.setNoDelay(true);
      await once(client, 'connect');
      // Each piece is written once the server has read everything before it: separate segments.
      for (const [from, to] of [
        [0, 3],
        [3, 14],
        [14, 30],
        [30, whole.length],
      ] as const) {
        client.write(whole.subarray(from, to));
        await until(() => (server.accepted[0]?.bytesRead ?? 0) >= to);
      }
      await until(() => server.seen[0]?.data.length === request.length);
      expect(server.seen[0]).toMatchObject({ source: '192.0.2.10:50000', data: request.toString('latin1') });
      client.destroy();
    } finally {
      server.close();
    }
  });

  it('v1 in pieces too; garbage, a broken header and a silent client are closed with nothing handed on', async () => {
    const server = await serverSeeing(300);
    try {
      const v1 = connect(server.port, '127.0.0.1');
      await once(v1, 'connect');
      v1.write('PROXY TCP6 2001:db8::42 fd00::1 ');
      await until(() => (server.accepted[0]?.bytesRead ?? 0) > 0);
      v1.write('1234 443\r\nGET / HTTP/1.1\r\n\r\n');
      await until(() => server.seen[0]?.data === 'GET / HTTP/1.1\r\n\r\n');
      expect(server.seen[0]!.source).toBe('2001:db8::42:1234');
      v1.destroy();

      for (const bytes of [request, Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), Buffer.concat([v2(1, 0x11, ipv4Block.slice(0, 4)), request])]) {
        const client = connect(server.port, '127.0.0.1');
        await once(client, 'connect');
        client.on('error', () => {});
        client.write(bytes);
        await once(client, 'close');
      }
      // Connected and silent: closed when the wait for the header runs out.
      const silent = connect(server.port, '127.0.0.1');
      await once(silent, 'connect');
      await once(silent, 'close');
      await until(() => server.seen.length === 5 && server.seen.every((record) => record.closed));
      expect(server.seen.slice(1).map(({ source, data, refused }) => ({ source, data, refused: refused?.split(' ')[0] }))).toEqual([
        { source: undefined, data: '', refused: 'no' },
        { source: undefined, data: '', refused: 'PROXY' },
        { source: undefined, data: '', refused: 'PROXY' },
        { source: undefined, data: '', refused: 'no' },
      ]);
    } finally {
      server.close();
    }
  });
});
