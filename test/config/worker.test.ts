import { describe, expect, it } from 'vitest';
import { workerConfig } from '../../src/config/worker.ts';
import { compileSite } from '../../src/site/site.ts';
import worker from '../../src/worker.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } };
const text = (config: unknown) => JSON.stringify(config);

describe('worker config (ROUTER_CONFIG)', () => {
  it('says how to give it when it is missing', () => {
    expect(() => workerConfig(undefined)).toThrow(/ROUTER_CONFIG is not set.*wrangler secret put ROUTER_CONFIG/s);
    expect(() => workerConfig('  ')).toThrow(/ROUTER_CONFIG is not set/);
  });

  it('takes the same file as the other runtimes, plain listeners included (ignored)', () => {
    const config = workerConfig(text({ listen: [{ host: '127.0.0.1', port: 5000 }, { port: 8080 }], sites: [site] }));
    expect(config.sites[0]!.name).toBe('docker');
  });

  it('names what a worker cannot do: TLS listeners, static folders, the CA file', () => {
    const config = {
      listen: [{ port: 8080 }, { port: 8443, cert: 'certs/a.crt', key: 'certs/a.key' }],
      caCert: 'certs/ca.crt',
      sites: [{ ...site, static: [{ prefix: '/download', dir: 'download' }] }],
    };
    let message = '';
    try {
      workerConfig(text(config));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/listen\[1\]: TLS/);
    expect(message).toMatch(/caCert:/);
    expect(message).toMatch(/sites\[0\]\.static:/);
  });

  it('refuses the admin listener and active health checks (no process between requests)', () => {
    const pool = { servers: ['http://a:8082', 'http://b:8082'] };
    expect(() => workerConfig(text({ admin: { port: 9090 }, sites: [site] }))).toThrow(/admin: a worker cannot open a listener/);
    // Asked for: refused. Left unset (on by default elsewhere): off here, without an error.
    expect(() => workerConfig(text({ sites: [{ ...site, upstreams: { read: pool, write: 'http://h:8083' }, health: { checks: true } }] }))).toThrow(
      /sites\[0\]\.health: active checks/,
    );
    const unset = workerConfig(
      text({
        sites: [
          { ...site, upstreams: { read: pool, write: 'http://h:8083' } },
          { ...site, name: 'other', hosts: ['other.io'] },
        ],
      }),
    );
    expect(unset.sites.map((s) => s.health.checks)).toEqual([false, false]);
    expect(unset.sites.map((s) => compileSite(s).health.checks)).toEqual([false, false]);
    const passive = workerConfig(text({ sites: [{ ...site, upstreams: { read: pool, write: 'http://h:8083' }, health: { checks: false } }] }));
    expect(passive.sites).toHaveLength(1);
  });

  it('answers every request with a 500 naming the problem, in registry JSON on /v2/', async () => {
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
    const response = await worker.fetch(new Request('http://idocker.io/v2/'), { ROUTER_CONFIG: '{"sites": []}' }, ctx);
    expect(response.status).toBe(500);
    const body = (await response.json()) as { errors: Array<{ message: string }> };
    expect(body.errors[0]!.message).toMatch(/not configured: ROUTER_CONFIG is invalid:\n\s+sites: must list at least one site/);
  });
});
