/**
 * The client's address behind a balancer (issue 21): which peers' X-Forwarded-For is believed
 * (realIp), how the header is read, and that the whole app (push sessions, access log, the
 * headers the origin sees) uses the address found, while a peer that is not trusted cannot set it.
 */
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { appFor, type SocketEnv } from '../../src/adapter/app.ts';
import { featureProblems } from '../../src/config/features.ts';
import { parseConfig } from '../../src/config/load.ts';
import { trustedProxyProblem } from '../../src/config/real-ip.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { configWarnings } from '../../src/config/warnings.ts';
import type { OutgoingRequest, UpstreamClient } from '../../src/forward/client.ts';
import { clientAddressFinder, hopAddress, trustedProxies } from '../../src/request/client-address.ts';

const finder = (from: string[], recursive = true, header: 'X-Forwarded-For' | 'X-Real-IP' = 'X-Forwarded-For') =>
  clientAddressFinder({ from, header, recursive });
const xff = (value: string) => new Headers({ 'x-forwarded-for': value });

describe('trusted proxies (realIp.from)', () => {
  it('matches IPv4 and IPv6 addresses and CIDR blocks, IPv4-mapped IPv6 peers as IPv4', () => {
    const trusted = trustedProxies(['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::1']);
    expect(['10.200.3.4', '127.0.0.1', '::ffff:10.1.1.1', '::ffff:127.0.0.1', 'fd12:3456::1', '::1'].map(trusted)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['11.0.0.1', '127.0.0.2', '::ffff:127.0.0.2', 'fe80::1', '2001:db8::1', '', 'not-an-address'].map(trusted)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('refuses what is not an address or block, naming the field and the form', () => {
    expect(trustedProxyProblem('10.0.0.0/8')).toBeUndefined();
    expect(trustedProxyProblem('2001:db8::/32')).toBeUndefined();
    expect(trustedProxyProblem('10.0.0.0/33')).toMatch(/0 to 32 for an IPv4 block/);
    expect(trustedProxyProblem('fd00::/129')).toMatch(/0 to 128 for an IPv6 block/);
    expect(trustedProxyProblem('balancer.internal')).toMatch(/IPv4 or IPv6 address or CIDR block/);
    const bad = () => parseConfig({ sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }], realIp: { from: ['10.0.0.0/40'] } } as ConfigInput);
    expect(bad).toThrow(/realIp\.from\[0\]/);
    const header = () =>
      parseConfig({
        sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }],
        realIp: { from: ['10.0.0.1'], header: 'proxy_protocol' },
      } as ConfigInput);
    expect(header).toThrow(/realIp\.header[\s\S]*proxyProtocol/);
    const empty = () => parseConfig({ sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }], realIp: { from: [] } } as ConfigInput);
    expect(empty).toThrow(/realIp\.from/);
  });

  it('check warns about a block that trusts every address', () => {
    const config = parseConfig({
      sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }],
      realIp: { from: ['10.0.0.0/8', '0.0.0.0/0', '::/0'] },
    } as ConfigInput);
    expect(configWarnings(config)).toEqual([
      'realIp.from[0]: "10.0.0.0/8" is already taken in by realIp.from[1] "0.0.0.0/0": remove it',
      expect.stringMatching(/^realIp\.from\[1\]: "0\.0\.0\.0\/0" trusts every IPv4 address, so any client can set its own address with X-Forwarded-For/),
      expect.stringMatching(/^realIp\.from\[2\]: "::\/0" trusts every IPv6 address/),
    ]);
  });

  it('check warns about entries that are not what they look like; the router reads them as the warning says', () => {
    const from = ['10.0.0.1/8', '192.168.0.0/16 ', '::ffff:127.0.0.1', '::ffff:172.16.0.0/108', '10.1.0.0/16', '192.168.0.0/16', '2001:DB8::/32'];
    const config = parseConfig({ sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }], realIp: { from } } as ConfigInput);
    expect(configWarnings(config)).toEqual([
      'realIp.from[0]: "10.0.0.1/8" has address bits below its prefix length, ignored (nginx: "low address bits … are meaningless"): it means "10.0.0.0/8"',
      'realIp.from[1]: "192.168.0.0/16 " has spaces around it; they are ignored: write "192.168.0.0/16"',
      'realIp.from[2]: "::ffff:127.0.0.1" is an IPv4-mapped IPv6 address; IPv4 clients are compared as IPv4, so it is read as "127.0.0.1": write that',
      'realIp.from[3]: "::ffff:172.16.0.0/108" is an IPv4-mapped IPv6 address; IPv4 clients are compared as IPv4, so it is read as "172.16.0.0/12": write that',
      'realIp.from[4]: "10.1.0.0/16" is already taken in by realIp.from[0] "10.0.0.1/8": remove it',
      'realIp.from[5]: "192.168.0.0/16" is already taken in by realIp.from[1] "192.168.0.0/16 ": remove it',
    ]);
    // As read: the mapped entries match IPv4 clients (plain or as a dual-stack socket names them), the low bits are cleared.
    const trusted = trustedProxies(from);
    expect(['127.0.0.1', '::ffff:127.0.0.1', '172.31.255.1', '10.255.0.1', '192.168.1.1', '2001:db8::5'].map(trusted)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['127.0.0.2', '172.32.0.1', '11.0.0.1'].map(trusted)).toEqual([false, false, false]);
    expect(finder(['::ffff:127.0.0.1'])('127.0.0.1', xff('198.51.100.7'))).toBe('198.51.100.7');
  });

  it('defaults: header X-Forwarded-For, recursive; off without realIp', () => {
    const config = parseConfig({ sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }], realIp: { from: ['10.0.0.1'] } } as ConfigInput);
    expect(config.realIp).toEqual({ from: ['10.0.0.1'], header: 'X-Forwarded-For', recursive: true });
    const none = parseConfig({ sites: [{ name: 's', hosts: ['a.test'], upstream: 'http://u.test/' }] } as ConfigInput);
    expect(none.realIp).toBeUndefined();
    expect(clientAddressFinder(undefined)('10.0.0.1', xff('198.51.100.7'))).toBe('10.0.0.1');
  });
});

describe('a listener with proxyProtocol', () => {
  const site = { name: 's', hosts: ['a.test'], upstream: 'http://u.test/' };
  it('is off by default, a boolean, and refused on the worker, saying why', () => {
    const config = parseConfig({ sites: [site], listen: [{ port: 8080 }, { port: 8081, proxyProtocol: true }] } as ConfigInput);
    expect(config.listen.map((entry) => entry.proxyProtocol ?? false)).toEqual([false, true]);
    expect(() => parseConfig({ sites: [site], listen: { proxyProtocol: 'yes' } } as unknown as ConfigInput)).toThrow(/listen\.proxyProtocol/);
    expect(featureProblems('node', config)).toEqual([]);
    expect(featureProblems('deno', config)).toEqual([]);
    expect(featureProblems('worker', config)).toEqual([expect.stringMatching(/^listen\[1\]\.proxyProtocol: a worker gets no TCP connection/)]);
  });
});

describe('the client found from a trusted peer', () => {
  it('an untrusted peer is the client whatever its X-Forwarded-For says', () => {
    expect(finder(['10.0.0.0/8'])('203.0.113.9', xff('198.51.100.7, 10.0.0.5'))).toBe('203.0.113.9');
  });

  it('recursive: the rightmost hop that is not trusted', () => {
    const find = finder(['10.0.0.0/8', '127.0.0.1']);
    expect(find('10.0.0.1', xff('198.51.100.7'))).toBe('198.51.100.7');
    expect(find('127.0.0.1', xff('6.6.6.6, 198.51.100.7, 10.0.0.9, 10.0.0.8'))).toBe('198.51.100.7');
    // Every hop trusted: the leftmost one (nginx does the same).
    expect(find('10.0.0.1', xff('10.0.0.3, 10.0.0.2'))).toBe('10.0.0.3');
    // No header from a trusted peer: the peer.
    expect(find('10.0.0.1', new Headers())).toBe('10.0.0.1');
    // Several X-Forwarded-For fields read as one list.
    const two = new Headers();
    two.append('x-forwarded-for', '198.51.100.7');
    two.append('x-forwarded-for', '10.0.0.4');
    expect(find('10.0.0.1', two)).toBe('198.51.100.7');
  });

  it('not recursive: the last hop, trusted or not', () => {
    const find = finder(['10.0.0.0/8'], false);
    expect(find('10.0.0.1', xff('198.51.100.7, 10.0.0.9'))).toBe('10.0.0.9');
    expect(find('10.0.0.1', xff('198.51.100.7'))).toBe('198.51.100.7');
  });

  it('IPv6 peers, hops and blocks', () => {
    const find = finder(['fd00::/8', '::1']);
    expect(find('::1', xff('2001:db8::42, fd00::7'))).toBe('2001:db8::42');
    expect(find('fd00::1', xff('[2001:db8::43]:51234'))).toBe('2001:db8::43');
    expect(find('2001:db8::99', xff('2001:db8::42'))).toBe('2001:db8::99');
  });

  it('a malformed hop stops the walk at the last address vouched for', () => {
    const find = finder(['10.0.0.0/8']);
    expect(find('10.0.0.1', xff('198.51.100.7, unknown, 10.0.0.2'))).toBe('10.0.0.2');
    expect(find('10.0.0.1', xff('<script>'))).toBe('10.0.0.1');
    expect(find('10.0.0.1', xff(', '))).toBe('10.0.0.1');
    expect(find('10.0.0.1', xff('999.1.1.1'))).toBe('10.0.0.1');
    expect(['1.2.3.4:80', '[::1]:80', '::1', ' 1.2.3.4 ', '1.2.3', '01.2.3.4', 'fe80::1%eth0'].map(hopAddress)).toEqual([
      '1.2.3.4',
      '::1',
      '::1',
      '1.2.3.4',
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('header X-Real-IP', () => {
    const find = finder(['10.0.0.0/8'], true, 'X-Real-IP');
    expect(find('10.0.0.1', new Headers({ 'x-real-ip': '198.51.100.7', 'x-forwarded-for': '6.6.6.6' }))).toBe('198.51.100.7');
  });
});

describe('the whole app uses the client found', () => {
  const ROLES = { read: 'http://group.internal/repository/group/', write: 'http://hosted.internal/repository/hosted/' };

  /** A docker site behind a balancer at 10.0.0.1; every request's role, the headers the origin saw and the access log. */
  function router(realIp: ConfigInput['realIp']) {
    const seen: Array<{ role: string; forwardedFor: string | null; realIp: string | null }> = [];
    const log: AccessEntry[] = [];
    const client: UpstreamClient = {
      async send(outgoing: OutgoingRequest) {
        await outgoing.body?.cancel();
        const role = Object.entries(ROLES).find(([, prefix]) => outgoing.url.startsWith(prefix))?.[0] ?? outgoing.url;
        seen.push({ role, forwardedFor: outgoing.headers.get('x-forwarded-for'), realIp: outgoing.headers.get('x-real-ip') });
        return { status: 202, headers: new Headers({ 'content-type': 'text/plain' }), body: null };
      },
    };
    const config = parseConfig({
      sites: [{ name: 'docker', hosts: ['registry.test'], preset: 'docker', upstreams: ROLES }],
      ...(realIp && { realIp }),
    } as ConfigInput);
    // The access log is JSON lines on stdout (console.log): read back from the spy.
    const app = appFor(config, { client });
    const send = async (method: string, path: string, peer: string, forwardedFor?: string) => {
      const headers: Record<string, string> = { host: 'registry.test', authorization: 'Basic Y2k6cw==' };
      if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
      const response = await app.fetch(new Request(`http://registry.test${path}`, { method, headers, body: method === 'POST' ? 'x' : undefined }), {
        clientAddress: peer,
      } satisfies SocketEnv);
      await response.body?.cancel();
      const line = stdout.mock.calls.at(-1)?.[0] as string;
      log.push(JSON.parse(line) as AccessEntry);
      return seen.at(-1)!;
    };
    return { app, send, seen, log };
  }

  let stdout: MockInstance<typeof console.log>;
  beforeEach(() => {
    stdout = vi.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(() => stdout.mockRestore());

  const push = '/v2/team/app/blobs/uploads/';
  const manifestHead = '/v2/team/app/manifests/1.0';

  it('behind a trusted balancer, two clients with one account get a push session each', async () => {
    const { app, send, log } = router({ from: ['10.0.0.1'] });
    try {
      expect((await send('POST', push, '10.0.0.1', '198.51.100.1')).role).toBe('write');
      // The pushing client's manifest HEAD goes where its push writes; another client's with the same credentials does not.
      expect((await send('HEAD', manifestHead, '10.0.0.1', '198.51.100.1')).role).toBe('write');
      const other = await send('HEAD', manifestHead, '10.0.0.1', '198.51.100.2');
      expect(other.role).toBe('read');
      expect(other).toMatchObject({ forwardedFor: '198.51.100.2, 198.51.100.2', realIp: '198.51.100.2' });
      expect(log.map((entry) => entry.client)).toEqual(['198.51.100.1', '198.51.100.1', '198.51.100.2']);
    } finally {
      app.stop();
    }
  });

  it('without realIp the balancer is everyone: the sessions merge (what realIp fixes)', async () => {
    const { app, send } = router(undefined);
    try {
      await send('POST', push, '10.0.0.1', '198.51.100.1');
      expect((await send('HEAD', manifestHead, '10.0.0.1', '198.51.100.2')).role).toBe('write');
    } finally {
      app.stop();
    }
  });

  it('a spoofed X-Forwarded-For from an untrusted peer changes nothing: session key, access log, headers upstream', async () => {
    const trusting = router({ from: ['10.0.0.1'] });
    const plain = router(undefined);
    try {
      for (const { send } of [trusting, plain]) {
        await send('POST', push, '198.51.100.1', undefined);
        // 203.0.113.5 claims to be the pusher: it is not let into the pusher's session.
        const spoofed = await send('HEAD', manifestHead, '203.0.113.5', '198.51.100.1');
        expect(spoofed).toEqual({ role: 'read', forwardedFor: '198.51.100.1, 203.0.113.5', realIp: '203.0.113.5' });
      }
      expect(trusting.seen).toEqual(plain.seen);
      expect(trusting.log.map((entry) => entry.client)).toEqual(['198.51.100.1', '203.0.113.5']);
      expect(plain.log.map((entry) => entry.client)).toEqual(['198.51.100.1', '203.0.113.5']);
    } finally {
      trusting.app.stop();
      plain.app.stop();
    }
  });
});
