import { describe, expect, it } from 'vitest';
import { addressMatcher, ipFamily } from '../../src/request/ip.ts';

describe('ip (no node:net: the same on the worker)', () => {
  it('knows dotted-quad IPv4 and IPv6 text, and nothing else', () => {
    expect(['10.1.2.3', '2001:db8::1', '::ffff:10.1.2.3'].map(ipFamily)).toEqual([4, 6, 6]);
    // Short, octal-looking and hexadecimal IPv4 forms, zone ids and names are no client address.
    expect(['127.1', '0x7f.0.0.1', '1.2.3.256', 'fe80::1%eth0', 'localhost', ''].map(ipFamily)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('matches addresses and CIDR blocks of either family; a mapped IPv4 peer matches IPv4 entries', () => {
    const trusted = addressMatcher(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(['10.200.0.1', '127.0.0.1', 'fd12::1', '::ffff:10.1.2.3'].map(trusted)).toEqual([true, true, true, true]);
    expect(['11.0.0.1', '127.0.0.2', 'fe80::1', '::ffff:11.0.0.1', 'not-an-address'].map(trusted)).toEqual([false, false, false, false, false]);
  });
});
