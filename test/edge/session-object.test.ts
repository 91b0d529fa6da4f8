import { describe, expect, it } from 'vitest';
import { durableSessionStore, PushSessionObject, type DurableObjectNamespaceLike } from '../../src/edge/session-object.ts';
import { Server } from '../../src/upstream/pool.ts';

/** Durable Objects as the platform offers them, in process: one object per name, its own storage. */
function namespace(): DurableObjectNamespaceLike & { objects: Map<string, PushSessionObject> } {
  const objects = new Map<string, PushSessionObject>();
  return {
    objects,
    idFromName: (name) => name,
    get: (id) => {
      const name = id as string;
      if (!objects.has(name)) {
        const data = new Map<string, unknown>();
        objects.set(
          name,
          new PushSessionObject({ storage: { get: async (k) => data.get(k), put: async (k, v) => void data.set(k, v), delete: async (k) => data.delete(k) } }),
        );
      }
      return { fetch: (input, init) => objects.get(name)!.fetch(new Request(input, init)) };
    },
  };
}

describe('push sessions in Durable Objects', () => {
  const servers = ['http://a:5000', 'http://b:5000'].map((href) => new Server('docker', href, 10_000, false));

  it('two isolates with their own store objects see one session: open, hold, find, expire', async () => {
    const shared = namespace();
    const isolateA = durableSessionStore(shared, 'docker', 60_000, servers);
    const isolateB = durableSessionStore(shared, 'docker', 60_000, servers);
    const opened = await isolateA.open('10.0.0.1 - team/app', 'write', 1_000);
    await isolateA.hold(opened, servers[1]!);
    const seen = await isolateB.find('10.0.0.1 - team/app', 30_000);
    expect(seen).toMatchObject({ role: 'write', server: servers[1] });
    expect(await isolateB.find('10.0.0.2 - team/app', 30_000)).toBeUndefined();
    // Renewed at 30 s: open at 89 s, gone after 90 s of silence.
    expect(await isolateA.find('10.0.0.1 - team/app', 89_000)).toBeDefined();
    expect(await isolateA.find('10.0.0.1 - team/app', 149_001)).toBeUndefined();
    expect(shared.objects.size).toBe(2);
  });

  it('a session ended on one isolate is gone on the other; a new role starts afresh', async () => {
    const shared = namespace();
    const [a, b] = [durableSessionStore(shared, 'maven', 60_000, servers), durableSessionStore(shared, 'maven', 60_000, servers)];
    const session = await a.open('c com/example/app', 'snapshots', 0);
    await a.hold(session, servers[0]!);
    expect(await b.open('c com/example/app', 'write', 1)).toMatchObject({ role: 'write', server: undefined });
    await b.end(session);
    expect(await a.find('c com/example/app', 2)).toBeUndefined();
  });
});
