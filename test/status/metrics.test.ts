import { describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { readiness } from '../../src/status/admin.ts';
import { parseConfig } from '../../src/config/load.ts';
import { Metrics } from '../../src/status/metrics.ts';
import { compileSite } from '../../src/site/site.ts';
import { parsePrometheus, sumOf, sampleValue } from '../support/prometheus.ts';

const entry = (over: Partial<AccessEntry>): AccessEntry => ({
  time: new Date().toISOString(),
  site: 'docker',
  host: 'idocker.io',
  method: 'GET',
  path: '/v2/',
  status: 200,
  bytesIn: 0,
  bytesOut: 0,
  durationMs: 3,
  role: 'read',
  upstream: 'http://a:8082',
  client: '192.0.2.1',
  ...over,
});

function site() {
  const config = parseConfig({
    sites: [
      {
        name: 'docker',
        hosts: ['idocker.io'],
        preset: 'docker',
        upstreams: { read: { servers: ['http://a:8082'], backup: ['http://b:8082'] }, write: { servers: ['http://h"q:8083'], backup: [] } },
      },
    ],
  });
  const compiled = compileSite(config.sites[0]!);
  for (const s of compiled.servers) s.onChange = () => {};
  return compiled;
}

describe('Metrics', () => {
  it('renders valid Prometheus text whose counters match the entries recorded', () => {
    const metrics = new Metrics();
    const logged: AccessEntry[] = [];
    const log = metrics.counting((e) => logged.push(e));
    log(entry({ bytesOut: 100, durationMs: 2 }));
    log(entry({ bytesOut: 50, durationMs: 40 }));
    log(entry({ status: 404, durationMs: 7000 }));
    log(entry({ method: 'PATCH', role: 'write', upstream: 'http://h:8083', bytesIn: 4096, status: 202 }));
    log(entry({ site: null, role: null, upstream: null, status: 421 }));
    expect(logged).toHaveLength(5);

    const s = site();
    s.pools.read.primaries[0]!.failed('active', 'refused');
    s.pools.read.backups[0]!.active = 2;
    const families = parsePrometheus(metrics.render([s]));
    expect(sampleValue(families, 'registry_router_requests_total', { site: 'docker', role: 'read', upstream: 'http://a:8082', status: '200' })).toBe(2);
    expect(sampleValue(families, 'registry_router_requests_total', { status: '404' })).toBe(1);
    expect(sampleValue(families, 'registry_router_requests_total', { site: '', status: '421' })).toBe(1);
    expect(sumOf(families, 'registry_router_requests_total')).toBe(5);
    expect(sampleValue(families, 'registry_router_sent_bytes_total', { role: 'read' })).toBe(150);
    expect(sampleValue(families, 'registry_router_received_bytes_total', { role: 'write' })).toBe(4096);
    expect(sampleValue(families, 'registry_router_request_duration_seconds_count', { site: 'docker', role: 'read' })).toBe(3);
    expect(sampleValue(families, 'registry_router_request_duration_seconds_bucket', { site: 'docker', role: 'read', le: '0.005' })).toBe(1);
    expect(sampleValue(families, 'registry_router_request_duration_seconds_bucket', { site: 'docker', role: 'read', le: '0.05' })).toBe(2);
    expect(sampleValue(families, 'registry_router_request_duration_seconds_bucket', { site: 'docker', role: 'read', le: '10' })).toBe(3);
    expect(sampleValue(families, 'registry_router_request_duration_seconds_sum', { site: 'docker', role: 'read' })).toBeCloseTo(7.042);
    // Down (a failed check): not up, but known.
    expect(sampleValue(families, 'registry_router_upstream_up', { role: 'read', upstream: 'http://a:8082', tier: 'primary' })).toBe(0);
    expect(sampleValue(families, 'registry_router_upstream_known', { role: 'read', upstream: 'http://a:8082', tier: 'primary' })).toBe(1);
    // Never checked, never answered: unknown, so not counted as up.
    expect(sampleValue(families, 'registry_router_upstream_up', { role: 'read', upstream: 'http://b:8082', tier: 'backup' })).toBe(0);
    expect(sampleValue(families, 'registry_router_upstream_known', { role: 'read', upstream: 'http://b:8082', tier: 'backup' })).toBe(0);
    // A quote in a label value is escaped and parses back.
    expect(sampleValue(families, 'registry_router_upstream_up', { role: 'write', upstream: 'http://h"q:8083' })).toBe(0);
    expect(sampleValue(families, 'registry_router_upstream_transfers_in_flight', { upstream: 'http://b:8082' })).toBe(2);
    expect(families.get('registry_router_request_duration_seconds')?.type).toBe('histogram');

    // Once watched, an answered request is evidence: the backup is up; a fail status or an error is not.
    metrics.watch([s]);
    log(entry({ upstream: 'http://b:8082', status: 404 }));
    log(entry({ role: 'write', upstream: 'http://h"q:8083', status: 502 }));
    log(entry({ role: 'write', upstream: 'http://h"q:8083', status: 200, error: 'response body: reset' }));
    const after = parsePrometheus(metrics.render([s]));
    expect(sampleValue(after, 'registry_router_upstream_up', { role: 'read', upstream: 'http://b:8082', tier: 'backup' })).toBe(1);
    expect(sampleValue(after, 'registry_router_upstream_known', { role: 'read', upstream: 'http://b:8082', tier: 'backup' })).toBe(1);
    expect(s.pools.read.backups[0]!.health()).toMatchObject({
      state: 'up',
      via: 'passive',
      reason: 'a request was answered (404)',
      lastAnswer: { status: 404 },
    });
    expect(sampleValue(after, 'registry_router_upstream_known', { role: 'write', upstream: 'http://h"q:8083' })).toBe(0);
    expect(s.pools.write.primaries[0]!.health().lastAnswer).toBeNull();
  });

  it('readiness names each site and role without a usable server', () => {
    const s = site();
    expect(readiness([s])).toEqual([]);
    s.pools.write.primaries[0]!.failed('active', 'refused');
    expect(readiness([s])).toEqual(['site docker: no healthy write upstream']);
    s.pools.read.primaries[0]!.failed('active', 'refused');
    s.pools.read.backups[0]!.failed('active', 'refused');
    expect(readiness([s])).toHaveLength(2);
  });

  it('readiness: one failed answer of a server whose checks pass does not make the router unready', () => {
    const s = site();
    const hosted = s.pools.write.primaries[0]!;
    expect(hosted.checked).toBe(true);
    hosted.passed('GET /v2/ answered 200', 0);
    // A 502 for one artifact: out of rotation for its back-off, but its server answers and its checks pass.
    hosted.failed('passive', 'GET /v2/a/blobs/sha256:x answered 502', 1000);
    hosted.passed('GET /v2/ answered 200', 2000);
    expect(hosted.available(2000)).toBe(false);
    expect(readiness([s], 2000)).toEqual([]);
    // Its next check fails: now it is known dead.
    hosted.failed('active', 'GET /v2/: connection refused', 3000);
    expect(readiness([s], 3000)).toEqual(['site docker: no healthy write upstream']);
  });
});

describe('parsePrometheus (the test parser) is strict', () => {
  const ok = '# HELP x_total X.\n# TYPE x_total counter\nx_total{a="1"} 3\n';
  it('accepts valid text', () => {
    expect(sampleValue(parsePrometheus(ok), 'x_total', { a: '1' })).toBe(3);
  });
  it.each([
    ['no final newline', ok.trimEnd()],
    ['bad value', '# TYPE x counter\nx 1,5\n'],
    ['bad escape', 'x{a="\\t"} 1\n'],
    ['unterminated labels', 'x{a="1" 1\n'],
    ['duplicate series', 'x{a="1"} 1\nx{a="1"} 2\n'],
    ['TYPE after samples', 'x 1\n# TYPE x gauge\n'],
    ['interleaved families', 'x 1\ny 1\nx{a="2"} 1\n'],
    ['negative counter', '# TYPE x counter\nx -1\n'],
    ['non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
  ])('rejects %s', (_why, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});
