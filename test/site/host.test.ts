import { describe, expect, it } from 'vitest';
import { compileHostPattern, splitHost } from '../../src/site/host.ts';

describe('host matching', () => {
  it('splits names, ports and IPv6 literals', () => {
    expect(splitHost('Example.COM:8080')).toEqual({ name: 'example.com', port: '8080' });
    expect(splitHost('[::1]:5000')).toEqual({ name: '[::1]', port: '5000' });
    expect(splitHost('idocker.io.')).toEqual({ name: 'idocker.io', port: undefined });
  });
  it('ignores the port unless the entry names one', () => {
    const any = compileHostPattern('idocker.io');
    expect(any('IDOCKER.io:5000')).toBe(true);
    expect(any('idocker.io')).toBe(true);
    expect(any('other.io')).toBe(false);
    const exact = compileHostPattern('idocker.io:5000');
    expect(exact('idocker.io:5000')).toBe(true);
    expect(exact('idocker.io:5001')).toBe(false);
    expect(exact('idocker.io')).toBe(false);
  });
  it('matches subdomains for *.domain but not the apex', () => {
    const wild = compileHostPattern('*.example.com');
    expect(wild('a.example.com')).toBe(true);
    expect(wild('a.b.example.com:443')).toBe(true);
    expect(wild('example.com')).toBe(false);
    expect(wild('badexample.com')).toBe(false);
  });
});
