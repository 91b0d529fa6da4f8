/**
 * The whole router's status from its workers' answers (src/status/merge.ts): counters added, 0/1
 * states the highest, transfers listed with their worker, problems of any worker.
 */
import { describe, expect, it } from 'vitest';
import { mergeMetrics, mergeReadyz, mergeStatus, type WorkerInfo } from '../../src/status/merge.ts';
import type { SiteStatus, StatusSnapshot } from '../../src/status/snapshot.ts';

const info = (id: number, state: WorkerInfo['state'] = 'up'): WorkerInfo => ({
  id,
  pid: 100 + id,
  state,
  startedAt: '2026-01-01T00:00:00.000Z',
  restarts: 0,
  lastExit: null,
});

const metricsOf = (requests: number, up: 0 | 1, inFlight: number) =>
  [
    '# HELP registry_router_requests_total Requests answered.',
    '# TYPE registry_router_requests_total counter',
    `registry_router_requests_total{site="docker",role="read",upstream="http://g",status="200"} ${requests}`,
    '# HELP registry_router_request_duration_seconds Time.',
    '# TYPE registry_router_request_duration_seconds histogram',
    `registry_router_request_duration_seconds_bucket{site="docker",role="read",le="0.005"} ${requests}`,
    `registry_router_request_duration_seconds_sum{site="docker",role="read"} 0.5`,
    '# HELP registry_router_upstream_up Up.',
    '# TYPE registry_router_upstream_up gauge',
    `registry_router_upstream_up{site="docker",role="read",upstream="http://g",tier="primary"} ${up}`,
    '# HELP registry_router_upstream_transfers_in_flight In flight.',
    '# TYPE registry_router_upstream_transfers_in_flight gauge',
    `registry_router_upstream_transfers_in_flight{site="docker",upstream="http://g"} ${inFlight}`,
    '',
  ].join('\n');

describe('mergeMetrics', () => {
  it('adds counters, histograms and in-flight gauges, keeps the highest up state, and lists each worker', () => {
    const text = mergeMetrics(
      [metricsOf(3, 0, 1), metricsOf(4, 1, 2)],
      [
        { ...info(1), answered: true, inFlight: 1, requests: 3 },
        { ...info(2, 'down'), restarts: 2, answered: false, inFlight: 0, requests: 0 },
      ],
    );
    const lines = text.trim().split('\n');
    expect(lines).toContain('registry_router_requests_total{site="docker",role="read",upstream="http://g",status="200"} 7');
    expect(lines).toContain('registry_router_request_duration_seconds_bucket{site="docker",role="read",le="0.005"} 7');
    expect(lines).toContain('registry_router_request_duration_seconds_sum{site="docker",role="read"} 1');
    expect(lines).toContain('registry_router_upstream_up{site="docker",role="read",upstream="http://g",tier="primary"} 1');
    expect(lines).toContain('registry_router_upstream_transfers_in_flight{site="docker",upstream="http://g"} 3');
    expect(lines).toContain('registry_router_worker_up{worker="1"} 1');
    expect(lines).toContain('registry_router_worker_up{worker="2"} 0');
    expect(lines).toContain('registry_router_worker_restarts_total{worker="2"} 2');
    expect(lines).toContain('registry_router_worker_transfers_in_flight{worker="1"} 1');
    // Each family's HELP and TYPE once.
    expect(lines.filter((line) => line.startsWith('# TYPE registry_router_requests_total'))).toHaveLength(1);
    expect(lines.filter((line) => line.startsWith('# HELP registry_router_upstream_up'))).toHaveLength(1);
  });
});

const site = (requests: number, transfers: Array<{ id: number; startedAt: string }>, since: string, state: 'up' | 'down'): SiteStatus =>
  ({
    name: 'docker',
    checks: { on: true, intervalMs: 5000, path: '/v2/', expected: '2xx' },
    writeToBackup: false,
    writesPaused: false,
    roles: [
      {
        role: 'read',
        retries: 1,
        servers: [
          {
            href: 'http://g',
            tier: 'primary',
            state,
            up: state === 'up',
            since,
            changed: true,
            via: 'active',
            reason: state,
            lastCheck: { at: since, ok: state === 'up', reason: state },
            lastAnswer: null,
            lastFailure: null,
            downs: 1,
            failures: 2,
            inFlight: transfers.length,
          },
        ],
      },
    ],
    inFlight: transfers.length,
    transfers: transfers.map((t) => ({ ...t, site: 'docker', role: 'read', upstream: 'http://g', method: 'GET', path: '/v2/x', client: '127.0.0.2' })),
    requests: {
      total: { requests, clientErrors: 1, serverErrors: 0, bytesIn: 10, bytesOut: 20 },
      minutes: [
        { start: '2026-01-01T00:00:00.000Z', requests: 1, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 },
        { start: '2026-01-01T00:01:00.000Z', requests: requests - 1, clientErrors: 1, serverErrors: 0, bytesIn: 10, bytesOut: 20 },
      ],
    },
  }) as unknown as SiteStatus;

const snapshot = (s: SiteStatus, problems: string[] = []): StatusSnapshot => ({
  version: 2,
  now: '2026-01-01T00:01:30.000Z',
  startedAt: '2026-01-01T00:00:00.000Z',
  uptimeMs: 90_000,
  ready: problems.length === 0,
  problems,
  window: { minutes: 2, bucketMs: 60_000 },
  sites: [s],
  unrouted: null,
});

describe('mergeStatus', () => {
  it('adds requests and minutes, lists every transfer with its worker, takes the latest server state and adds its counts', () => {
    const a = snapshot(site(5, [{ id: 1, startedAt: '2026-01-01T00:01:10.000Z' }], '2026-01-01T00:00:10.000Z', 'up'));
    const b = snapshot(site(3, [{ id: 1, startedAt: '2026-01-01T00:01:05.000Z' }], '2026-01-01T00:00:20.000Z', 'down'), [
      'site docker: no healthy read upstream',
    ]);
    const merged = mergeStatus([a, b, undefined], [info(1), info(2), info(3, 'down')], Date.parse('2026-01-01T00:01:30.000Z'));
    const docker = merged.sites[0]!;
    expect(docker.requests.total).toEqual({ requests: 8, clientErrors: 2, serverErrors: 0, bytesIn: 20, bytesOut: 40 });
    expect(docker.requests.minutes.map((m) => m.requests)).toEqual([2, 6]);
    expect(docker.inFlight).toBe(2);
    expect(docker.transfers.map((t) => (t as typeof t & { worker: number }).worker)).toEqual([2, 1]);
    const server = docker.roles[0]!.servers[0]!;
    expect(server.state).toBe('down');
    expect([server.failures, server.downs, server.inFlight, docker.roles[0]!.retries]).toEqual([4, 2, 2, 2]);
    expect(merged.ready).toBe(false);
    expect(merged.problems).toEqual(['site docker: no healthy read upstream', 'worker 3: exited, restarting']);
    expect(merged.workers.map((w) => [w.id, w.answered, w.requests, w.inFlight])).toEqual([
      [1, true, 5, 1],
      [2, true, 3, 1],
      [3, false, 0, 0],
    ]);
  });
});

describe('mergeReadyz', () => {
  it('is ready only when every worker is up and ready', () => {
    const ready = { status: 200, body: { problems: [], sites: [{ name: 'docker' }] } };
    expect(mergeReadyz([ready, ready], [info(1), info(2)]).status).toBe(200);
    const one = mergeReadyz([ready, undefined], [info(1), info(2)]);
    expect(one.status).toBe(503);
    expect(one.body.problems).toEqual(['worker 2: did not answer']);
    expect(mergeReadyz([ready, { status: 503, body: { problems: ['site docker: no healthy write upstream'] } }], [info(1), info(2)]).body.problems).toEqual([
      'site docker: no healthy write upstream',
    ]);
  });
});

describe('the shared sessions store away in a merge of workers', () => {
  const away = 'sessions: redis store redis://r:6379/0 is away since 2026-01-01T00:01:00.000Z (ECONNREFUSED); push sessions are kept in each process meanwhile';
  const store = (up: boolean, fallbacks: number) => ({
    store: 'redis',
    url: 'redis://r:6379/0',
    up,
    since: '2026-01-01T00:01:00.000Z',
    fallbacks,
    reason: 'x',
  });

  it('is listed but leaves the router ready (/readyz and /status.json), the store shown away with every fallback', () => {
    const readyAway = { status: 200, body: { problems: [away], sites: [] } };
    const readyz = mergeReadyz([readyAway, { status: 200, body: { problems: [], sites: [] } }], [info(1), info(2)]);
    expect([readyz.status, readyz.body.problems]).toEqual([200, [away]]);
    const s = (n: number) => site(n, [], '2026-01-01T00:00:10.000Z', 'up');
    const a = { ...snapshot(s(1)), problems: [away], sessions: store(false, 3) };
    const b = { ...snapshot(s(2)), sessions: store(true, 2) };
    const merged = mergeStatus([a, b], [info(1), info(2)], Date.parse('2026-01-01T00:01:30.000Z'));
    expect([merged.ready, merged.problems, merged.sessions?.up, merged.sessions?.fallbacks]).toEqual([true, [away], false, 5]);
  });

  it('is one line for the whole router, though each worker says it with its own time, reason and count', () => {
    const line = (since: string, reason: string, calls: number) =>
      `sessions: redis store redis://r:6379/0 is away since ${since} (${reason}); push sessions are kept in each process meanwhile (${calls} calls so far)`;
    const answers = [
      { status: 200, body: { problems: [line('2026-01-01T00:01:00.100Z', 'connection closed', 3)], sites: [] } },
      { status: 200, body: { problems: ['site docker: no healthy write upstream', line('2026-01-01T00:01:00.050Z', 'connect ECONNREFUSED', 2)], sites: [] } },
    ];
    expect(mergeReadyz(answers, [info(1), info(2)]).body.problems).toEqual([
      'sessions: redis store redis://r:6379/0 is away since 2026-01-01T00:01:00.050Z (connection closed); ' +
        'push sessions are kept in each process meanwhile (5 calls so far in 2 workers)',
      'site docker: no healthy write upstream',
    ]);
  });

  it('shows the store up in /metrics only when every worker has it', () => {
    const up = (value: 0 | 1) => `# TYPE registry_router_sessions_store_up gauge\nregistry_router_sessions_store_up{store="redis"} ${value}\n`;
    expect(
      mergeMetrics([up(1), up(0)])
        .trim()
        .split('\n'),
    ).toContain('registry_router_sessions_store_up{store="redis"} 0');
    expect(
      mergeMetrics([up(1), up(1)])
        .trim()
        .split('\n'),
    ).toContain('registry_router_sessions_store_up{store="redis"} 1');
  });
});
