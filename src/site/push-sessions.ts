import type { Role } from '../rules/rule.ts';
import type { Server } from '../upstream/pool.ts';

/**
 * One client's push of one repository, as the router sees it: opened by the first push request
 * (a blob HEAD or an upload), renewed by each of them, over once no request came for `idle`.
 */
export interface PushSession {
  readonly key: string;
  /** Where the push writes (docker: `write`; Maven: `write` for releases, `snapshots`); follow rules go there. */
  role: Role;
  /** The write server the push went to first; its later requests go there or fail (never to another). */
  server: Server | undefined;
  /** Time (ms since epoch) of the last request's start or end. */
  seenAt: number;
}

/**
 * Where a site's push sessions live: in this process (`PushSessions`), or in the platform's shared
 * state where consecutive requests of one push land on different processes (a Durable Object at
 * the edge: src/edge/session-object.ts). Methods may answer at once or later.
 */
export interface SessionStore {
  /** The open session under `key`, renewed; or undefined. */
  find(key: string, now?: number): PushSession | undefined | Promise<PushSession | undefined>;
  /** The session under `key` writing to `role`, opened (or reopened for another role) when needed. */
  open(key: string, role: Role, now?: number): PushSession | Promise<PushSession>;
  /** Records the server the session's push went to first (kept if one is recorded already). */
  hold(session: PushSession, server: Server): void | Promise<void>;
  /** Ends a session (its server went down: the next push starts afresh). */
  end(session: PushSession): void | Promise<void>;
}

/** How a shared store is doing, for `/metrics`, `/status.json`, the status page and `/readyz`. */
export interface SharedSessionsStatus {
  /** The kind of store (`redis`). */
  store: string;
  /** Where it is, without credentials. */
  url: string;
  /** Whether the last call answered in time (false before the first connection, and while it is away). */
  up: boolean;
  /** Since when `up` has its value (ms since epoch). */
  since: number;
  /** Session calls answered from the process's own sessions because the store was away or slow. */
  fallbacks: number;
  /** Why it is away (the last error), or '' while it is up. */
  reason: string;
}

/**
 * Sessions shared by every process that serves the same hostname (one Redis: site/redis-sessions.ts).
 * Each site gets a store over it that falls back to `local` (this process's own sessions) while the
 * shared one is away or slow, so a store outage costs sessions across processes, never a request.
 */
export interface SharedSessions {
  /** The store of one site (its name keys the sessions; its servers are matched back by URL). */
  store(site: { readonly name: string; readonly servers: readonly Server[] }, idleMs: number, local: PushSessions): SessionStore;
  status(): SharedSessionsStatus;
  /** Closes the connection (the process is stopping). */
  close(): void;
}

/**
 * The push sessions of a site, in bounded memory: a Map in least-recently-used order, at most `max`
 * entries (the oldest is dropped first), expired entries removed when met. A client is its address
 * plus a short hash of its Authorization value, so users behind one NAT or load balancer do not
 * share sessions; bearer tokens that change in the middle of a push start a new one.
 */
export class PushSessions implements SessionStore {
  readonly #sessions = new Map<string, PushSession>();

  /**
   * @param idleMs how long a session lasts after its last request, in ms (0: sessions are off)
   * @param max how many sessions are kept at most
   */
  constructor(
    readonly idleMs: number,
    readonly max: number,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  /** The key of `client` (address) with `authorization` (header value or null) and `subject` (repository). */
  static key(client: string, authorization: string | null, subject: string): string {
    return `${client} ${authorization === null ? '-' : fnv1a(authorization).toString(36)} ${subject}`;
  }

  /** The open session under `key`, renewed; or undefined (none, or expired and now removed). */
  find(key: string, now = Date.now()): PushSession | undefined {
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    if (now - session.seenAt > this.idleMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    return this.#touch(session, now);
  }

  /**
   * The session under `key`, opened when there is none, writing to `role`. A push that turns to
   * another role (a release after a snapshot of the same artifact) starts afresh.
   */
  open(key: string, role: Role, now = Date.now()): PushSession {
    const found = this.find(key, now);
    if (found && found.role === role) return found;
    const session: PushSession = { key, role, server: undefined, seenAt: now };
    this.#sessions.set(key, session);
    if (this.#sessions.size > this.max) this.#sessions.delete(this.#sessions.keys().next().value!);
    return session;
  }

  hold(session: PushSession, server: Server): void {
    session.server ??= server;
  }

  /** Ends a session (its server went down: the next push starts afresh). */
  end(session: PushSession): void {
    if (this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
  }

  #touch(session: PushSession, now: number): PushSession {
    session.seenAt = now;
    // Re-inserting moves it to the end: the Map's first entry is then the least recently used.
    this.#sessions.delete(session.key);
    this.#sessions.set(session.key, session);
    return session;
  }
}

/** FNV-1a, 32 bits: a short, stable digest of a string (not a secret: only keeps keys small). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
