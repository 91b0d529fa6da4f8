import type { Role } from '../rules/rule.ts';
import type { PushSession, SessionStore } from '../site/push-sessions.ts';
import type { Server } from '../upstream/pool.ts';

/**
 * Push sessions at the edge. Consecutive requests of one push land on different isolates and data
 * centres, so a worker keeps each session in a Durable Object (one per site and session key, i.e.
 * per client, credentials and repository): the same rule as in one process (site/push-sessions.ts),
 * shared wherever the requests land. Bound as `PUSH_SESSIONS` in wrangler.toml.
 */

/** What a session object stores. */
interface Stored {
  role: Role;
  /** The href of the write server the push went to first. */
  server?: string;
  seenAt: number;
}

type Operation = { op: 'find' | 'open' | 'hold' | 'end'; role?: Role; server?: string; now: number; idleMs: number };

/** The little of Durable Objects' API used here (no @cloudflare/workers-types for two files). */
interface DurableObjectStateLike {
  storage: { get(key: string): Promise<unknown>; put(key: string, value: unknown): Promise<void>; delete(key: string): Promise<boolean> };
}
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(input: string, init: RequestInit): Promise<Response> };
}

/** The Durable Object class (exported by src/worker.ts). One session, in the object's storage. */
export class PushSessionObject {
  constructor(private readonly state: DurableObjectStateLike) {}

  async fetch(request: Request): Promise<Response> {
    const { op, role, server, now, idleMs } = (await request.json()) as Operation;
    const stored = (await this.state.storage.get('session')) as Stored | undefined;
    const live = stored && now - stored.seenAt <= idleMs ? stored : undefined;
    let next: Stored | undefined;
    if (op === 'find') next = live && { ...live, seenAt: now };
    else if (op === 'open') next = live && live.role === role ? { ...live, seenAt: now } : { role: role!, seenAt: now };
    // Held right after the session's first request: no expiry check (its clock is the caller's).
    else if (op === 'hold') next = stored && { ...stored, server: stored.server ?? server };
    if (next) await this.state.storage.put('session', next);
    else if (stored) await this.state.storage.delete('session');
    return Response.json(next ?? null);
  }
}

/**
 * A site's SessionStore on Durable Objects. Each call is one round trip to the session's object;
 * servers come back by href and are matched to the site's own (`servers`).
 */
export function durableSessionStore(namespace: DurableObjectNamespaceLike, site: string, idleMs: number, servers: readonly Server[]): SessionStore {
  const call = async (key: string, body: Omit<Operation, 'idleMs' | 'now'> & { now?: number }): Promise<PushSession | undefined> => {
    const stub = namespace.get(namespace.idFromName(`${site}\n${key}`));
    const response = await stub.fetch('https://push-sessions/', { method: 'POST', body: JSON.stringify({ now: Date.now(), ...body, idleMs }) });
    if (!response.ok) throw new Error(`push session store answered ${response.status}`);
    const stored = (await response.json()) as Stored | null;
    return stored ? { key, role: stored.role, server: servers.find((s) => s.href === stored.server), seenAt: stored.seenAt } : undefined;
  };
  return {
    find: (key, now) => call(key, { op: 'find', now }),
    open: async (key, role, now) => (await call(key, { op: 'open', role, now }))!,
    hold: async (session, server) => {
      session.server ??= server;
      await call(session.key, { op: 'hold', server: server.href });
    },
    end: async (session) => {
      await call(session.key, { op: 'end' });
    },
  };
}
