import { describe, expect, it } from 'vitest';
import { compileRule } from '../../src/rules/rule.ts';
import { presets } from '../../src/rules/presets.ts';
import { acceptShape } from '../../src/rules/accept.ts';
import { PushSessions } from '../../src/site/push-sessions.ts';
import { Pool, Server, rendezvousWeight } from '../../src/upstream/pool.ts';

describe('rule subjects', () => {
  const rules = presets.docker.rules.map((rule) => compileRule(rule, { ping: 'read', token: 'read' }));
  const first = (method: string, path: string) => rules.find((rule) => rule.matches(method, path, new URLSearchParams()))!;

  it('the repository name is the subject of every push request, however many segments it has', () => {
    const cases: Array<[string, string, string, boolean, string | undefined]> = [
      ['POST', '/v2/team/app/api/blobs/uploads/', 'team/app/api', true, 'open'],
      ['PATCH', '/v2/team/app/blobs/uploads/6f0e-1?_state=x', 'team/app', true, 'open'],
      ['HEAD', `/v2/app/blobs/sha256:${'a'.repeat(64)}`, 'app', true, 'open'],
      ['HEAD', '/v2/team/app/manifests/1', 'team/app', false, 'follow'],
      ['GET', '/v2/team/app/manifests/1', 'team/app', false, undefined],
      ['PUT', '/v2/team/app/manifests/1', 'team/app', true, undefined],
      ['GET', `/v2/team/app/blobs/sha256:${'a'.repeat(64)}`, 'team/app', false, undefined],
    ];
    for (const [method, path, subject, pin, session] of cases) {
      const rule = first(method, path.split('?')[0]!);
      expect([rule.subject(path.split('?')[0]!), rule.pin, rule.session], `${method} ${path}`).toEqual([subject, pin, session]);
    }
  });
});

// Accept values as the clients send them (sources in src/rules/accept.ts).
const CONTAINERD_RESOLVE =
  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, ' +
  'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*';
const CONTAINERD_PUSH_CHECK = 'application/vnd.oci.image.manifest.v1+json, */*';
const CRANE = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(',');

describe('a pull told from a push by Accept', () => {
  it('a list of manifest types with */* is a pull; one type, none, or a list without */* is not', () => {
    expect(acceptShape(CONTAINERD_RESOLVE)).toBe('list');
    expect(acceptShape('application/vnd.oci.image.index.v1+json;q=0.9, application/vnd.oci.image.manifest.v1+json, */*;q=0.1')).toBe('list');
    expect(acceptShape(CONTAINERD_PUSH_CHECK)).toBeUndefined();
    expect(acceptShape('application/vnd.docker.distribution.manifest.list.v2+json, */*')).toBeUndefined();
    expect(acceptShape(CRANE)).toBeUndefined();
    expect(acceptShape('*/*')).toBeUndefined();
    expect(acceptShape('')).toBeUndefined();
    expect(acceptShape(null)).toBeUndefined();
  });

  it("inside a push session the docker preset sends containerd's resolve to the group and its push check to the session", () => {
    const rules = presets.docker.rules.map((rule) => compileRule(rule, { ping: 'read', token: 'read' }));
    const first = (accept: string | null) => rules.find((rule) => rule.matches('HEAD', '/v2/team/app/manifests/base', new URLSearchParams(), accept))!;
    expect([first(CONTAINERD_RESOLVE).target, first(CONTAINERD_RESOLVE).session]).toEqual(['read', undefined]);
    expect([first(CONTAINERD_PUSH_CHECK).target, first(CONTAINERD_PUSH_CHECK).session]).toEqual(['read', 'follow']);
    expect(first(CRANE).session).toBe('follow');
    expect(first(null).session).toBe('follow');
  });
});

describe('PushSessions', () => {
  it('opens, renews and ends sessions per client, credentials and repository', () => {
    const sessions = new PushSessions(60_000, 100);
    const alice = PushSessions.key('10.0.0.1', 'Basic YWxpY2U6eA==', 'team/app');
    const bob = PushSessions.key('10.0.0.1', 'Basic Ym9iOng=', 'team/app');
    expect(alice).not.toBe(bob);
    const opened = sessions.open(alice, 'write', 1_000);
    expect(sessions.find(alice, 30_000)).toBe(opened);
    expect(sessions.find(bob, 30_000)).toBeUndefined();
    // Renewed at 30 s, so still open at 89 s, gone after 90 s of silence.
    expect(sessions.find(alice, 89_000)).toBe(opened);
    expect(sessions.find(alice, 149_001)).toBeUndefined();
    expect(sessions.size).toBe(0);
  });

  it('keeps at most `max` sessions, dropping the least recently used', () => {
    const sessions = new PushSessions(60_000, 3);
    for (const name of ['a', 'b', 'c']) sessions.open(name, 'write', 0);
    sessions.find('a', 1);
    sessions.open('d', 'write', 2);
    expect(sessions.size).toBe(3);
    expect(sessions.find('b', 3)).toBeUndefined();
    expect(['a', 'c', 'd'].map((name) => sessions.find(name, 3) !== undefined)).toEqual([true, true, true]);
  });
});

describe('rendezvous pinning', () => {
  const servers = ['http://a:5000', 'http://b:5000', 'http://c:5000'].map((href) => new Server('s', href, 10_000, false));
  const pool = new Pool('write', servers, []);
  const names = Array.from({ length: 600 }, (_, i) => `team/app-${i}`);

  it('spreads repositories evenly and picks the same server every time', () => {
    const counts = new Map<string, number>();
    for (const name of names) {
      const server = pool.pinned(name)!;
      expect(pool.pinned(name)).toBe(server);
      counts.set(server.href, (counts.get(server.href) ?? 0) + 1);
    }
    for (const count of counts.values()) expect(count).toBeGreaterThan(150);
  });

  it('a server going down moves only its own repositories', () => {
    const before = new Map(names.map((name) => [name, pool.pinned(name)!]));
    servers[1]!.failed('passive', 'test', Date.now());
    try {
      for (const name of names) {
        const now = pool.pinned(name)!;
        expect(now).not.toBe(servers[1]);
        if (before.get(name) !== servers[1]) expect(now).toBe(before.get(name));
      }
      expect(pool.pinned(names[0]!, true)).toBe(before.get(names[0]!));
    } finally {
      servers[1]!.passed('test', Date.now() + 60_000);
    }
  });

  it('is a pure function of server URL and name (two router instances agree)', () => {
    expect(rendezvousWeight('http://a:5000', 'team/app')).toBe(rendezvousWeight('http://a:5000', 'team/app'));
    expect(rendezvousWeight('http://a:5000', 'team/app')).not.toBe(rendezvousWeight('http://b:5000', 'team/app'));
  });
});
