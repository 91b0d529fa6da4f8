/**
 * Push sessions (docker) and Maven deploy sessions in Redis (or Valkey: same protocol), shared by
 * every router process and host behind one hostname: a push whose requests a balancer spreads over
 * several routers still has one session (issue 21).
 *
 * One hash per session, `<keyPrefix><site>:<session key>` → { role, server (its URL without
 * userinfo) }, expiring `idle` after
 * its last request (PEXPIRE on each). The write server is set once (HSETNX): the first process to
 * hold it wins, as in one process (push-sessions.ts). A call is one round trip (a pipeline), two
 * when a session is reopened for another role.
 *
 * The client is ioredis (loaded only when the config has `sessions`): the same code runs unchanged on Node, Bun and Deno (tested on all three),
 * it reconnects by itself, its offline queue can be turned off (a call while Redis is away fails at
 * once instead of waiting) and `commandTimeout` bounds a call on a connection that hangs. Redis away
 * or slow: each site's calls go to the process's own sessions (PushSessions), logged once when it
 * goes and once when it is back, counted, and Redis is tried again `RETRY_MS` after a failure or as
 * soon as ioredis has reconnected. A session Redis does not know is looked up among those the
 * process opened while Redis was away (a push that began then and goes on once it is back).
 */
import type { Redis } from 'ioredis';
import { logLine } from '../adapter/workers-role.ts';
import type { SessionsConfig } from '../config/sessions.ts';
import type { Role } from '../rules/rule.ts';
import type { Server } from '../upstream/pool.ts';
import type { PushSession, PushSessions, SessionStore, SharedSessions, SharedSessionsStatus } from './push-sessions.ts';

/** After a failed call on a connection ioredis still calls ready (a hang, a timeout), how long the process uses its own sessions. */
export const RETRY_MS = 1000;

/** The database number of a `redis://host/N` URL (0 when the path is empty). */
export function redisDb(url: string): number {
  try {
    return Number(new URL(url).pathname.slice(1) || 0);
  } catch {
    return 0;
  }
}

/** An error as the away line and the probe say it: a Redis error reply (WRONGPASS, ERR …) as `refused: …`. */
export function redisErrorText(error: Error): string {
  const text = error.message.replace(/\.$/, '');
  return error.name === 'ReplyError' ? `refused: ${text}` : text;
}

/** ioredis' options for a store on the request path: nothing waits past `timeout`, nothing queues while away. */
export function clientOptions(settings: SessionsConfig) {
  return {
    commandTimeout: settings.timeout,
    connectTimeout: Math.max(settings.timeout, 1000),
    // A call while disconnected fails at once (the request uses the process's sessions) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect for ever, at most every 2 s.
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
    // A stopping router must not be held open by the socket.
    lazyConnect: false,
  };
}

/**
 * `redis://:secret@host:6379/0` → `redis://host:6379/0`: logs and the status page show no password;
 * also how an upstream server is named in Redis (`http://user:pw@nexus/…` → `http://nexus/…`).
 */
export function redisUrlText(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.href;
  } catch {
    return url;
  }
}

/** The sessions of every site of this process in one Redis, through one connection. */
export class RedisSessions implements SharedSessions {
  /** Undefined until ioredis has loaded (imported when a config asks for it: no start-up cost otherwise). */
  #client: Redis | undefined;
  /** Resolves once the client exists (connecting or not). */
  readonly loaded: Promise<void>;
  readonly #url: string;
  readonly #log: (line: string) => void;
  #up = false;
  #since = Date.now();
  #reason = 'not connected yet';
  #fallbacks = 0;
  /** Before this time (ms), calls do not try Redis (a call failed on a connection ioredis calls ready). */
  #retryAt = 0;
  /** Whether "away" was logged and "back" is still to say. */
  #awayLogged = false;
  #closed = false;
  /** The config's database number: SELECTed by ioredis on each connection, and checked here before the connection is used. */
  readonly #db: number;
  /**
   * Whether the current connection is on `#db`: ioredis SELECTs it on connect but goes on (to db 0) when the server
   * refuses (a number past its `databases`), so the store stays away until a SELECT of its own succeeds.
   */
  #onDb = false;
  /** Before this time (ms) the database is not SELECTed again after a refusal. */
  #selectAt = 0;

  /**
   * @param settings the config's `sessions`
   * @param log where the away and back lines go (default: stderr)
   */
  constructor(
    readonly settings: SessionsConfig,
    log: (line: string) => void = (line) =>
      logLine(
        line,
        (text) => console.error(text),
        () => {},
      ),
  ) {
    this.#url = redisUrlText(settings.redis);
    this.#log = log;
    this.#db = redisDb(settings.redis);
    this.loaded = import('ioredis').then(({ Redis }) => {
      if (this.#closed) return;
      const client = new Redis(settings.redis, clientOptions(settings));
      // Without a listener an 'error' event would end the process; here it only means "away".
      // ioredis' own SELECT of the URL's database, refused, comes here too.
      client.on('error', (error: Error) => this.#away(`${/DB index/i.test(error.message) ? `SELECT ${this.#db} ` : ''}${redisErrorText(error)}`));
      client.on('close', () => {
        this.#onDb = false;
        this.#away('connection closed');
      });
      client.on('ready', () => {
        this.#retryAt = 0;
        this.#onDb = false;
        this.#selectAt = 0;
        this.#select();
      });
      this.#client = client;
    });
    // Cannot happen with the package installed; if it does, the router serves on with its own sessions.
    this.loaded.catch((error: Error) => this.#away(`cannot load ioredis: ${error.message}`));
  }

  /** The connection (undefined until ioredis has loaded), for tests and the bench. */
  get client(): Redis | undefined {
    return this.#client;
  }

  status(): SharedSessionsStatus {
    return { store: 'redis', url: this.#url, up: this.#up, since: this.#since, fallbacks: this.#fallbacks, reason: this.#up ? '' : this.#reason };
  }

  close(): void {
    this.#closed = true;
    this.#client?.disconnect();
  }

  store(site: { readonly name: string; readonly servers: readonly Server[] }, idleMs: number, local: PushSessions): SessionStore {
    const shared = redisStore(() => this.#client!, `${this.settings.keyPrefix}${site.name}:`, idleMs, site.servers);
    // Each call: Redis when usable, else (or when it fails) this process's own sessions.
    const attempt = async <T>(call: () => Promise<T>, fallback: () => T): Promise<T> => {
      if (this.#client?.status === 'ready' && !this.#onDb) this.#select();
      if (this.#client?.status !== 'ready' || !this.#onDb || Date.now() < this.#retryAt) {
        this.#fallbacks++;
        return fallback();
      }
      try {
        const result = await call();
        if (!this.#up) this.#back();
        return result;
      } catch (error) {
        this.#retryAt = Date.now() + RETRY_MS;
        this.#away((error as Error).message);
        this.#fallbacks++;
        return fallback();
      }
    };
    return {
      find: (key, now = Date.now()) =>
        attempt(
          // A session Redis does not know may be one this process opened while Redis was away.
          async () => (await shared.find(key, now)) ?? (local.size ? local.find(key, now) : undefined),
          () => local.find(key, now),
        ),
      open: (key, role, now = Date.now()) =>
        attempt(
          () => shared.open(key, role, now),
          () => local.open(key, role, now),
        ),
      hold: (session, server) => {
        local.hold(session, server);
        return attempt(
          () => shared.hold(session, server),
          () => undefined,
        );
      },
      end: (session) => {
        local.end(session);
        const kept = local.find(session.key);
        if (kept) local.end(kept);
        return attempt(
          () => shared.end(session),
          () => undefined,
        );
      },
    };
  }

  /** SELECTs the configured database (at most once per RETRY_MS while refused); the store is back once it is. */
  #select(): void {
    const client = this.#client;
    if (!client || Date.now() < this.#selectAt) return;
    // Database 0 needs no check: a connection starts on it.
    if (this.#db === 0) {
      this.#onDb = true;
      this.#back();
      return;
    }
    this.#selectAt = Date.now() + RETRY_MS;
    client.select(this.#db).then(
      () => {
        if (this.#client !== client || client.status !== 'ready') return;
        this.#onDb = true;
        this.#back();
      },
      (error: Error) => this.#away(`SELECT ${this.#db} ${redisErrorText(error)}`),
    );
  }

  #away(reason: string): void {
    if (this.#closed) return;
    this.#reason = reason;
    if (this.#up) {
      this.#up = false;
      this.#since = Date.now();
    }
    if (this.#awayLogged) return;
    this.#awayLogged = true;
    this.#log(
      `registry-router: sessions store ${this.#url} is away (${reason}): push sessions are kept in this process until it is back ` +
        '(a push spread over several routers may lose its session meanwhile)',
    );
  }

  #back(): void {
    if (this.#closed || this.#up) return;
    this.#up = true;
    this.#since = Date.now();
    this.#reason = '';
    if (!this.#awayLogged) return;
    this.#awayLogged = false;
    this.#log(`registry-router: sessions store ${this.#url} is back: push sessions are shared again`);
  }
}

/** Results of a pipeline: the first error thrown, else each command's reply. */
function replies(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('the pipeline was discarded');
  for (const [error] of results) if (error) throw error;
  return results.map(([, reply]) => reply);
}

/**
 * A site's sessions in Redis alone (the calls throw when Redis does; RedisSessions falls back).
 * `client()` is the connection at the time of the call; `prefix` ends with the site's name;
 * `servers` map the stored URL back to this process's Server.
 */
export function redisStore(
  client: () => Redis,
  prefix: string,
  idleMs: number,
  servers: readonly Server[],
): {
  find(key: string, now: number): Promise<PushSession | undefined>;
  open(key: string, role: Role, now: number): Promise<PushSession>;
  hold(session: PushSession, server: Server): Promise<void>;
  end(session: PushSession): Promise<void>;
} {
  // A server is stored by its URL without userinfo: upstream credentials stay out of Redis.
  const byId = new Map(servers.map((server) => [redisUrlText(server.href), server] as const));
  const serverOf = (id: unknown) => (typeof id === 'string' ? byId.get(id) : undefined);
  return {
    async find(key, now) {
      const id = prefix + key;
      const [fields] = replies(await client().pipeline().hmget(id, 'role', 'server').pexpire(id, idleMs).exec()) as [Array<string | null>];
      const [role, server] = fields;
      // A hash without a role: a hold that came after the session expired; not a session.
      return role ? { key, role, server: serverOf(server), seenAt: now } : undefined;
    },
    async open(key, role, now) {
      const id = prefix + key;
      const [, fields] = replies(await client().pipeline().hsetnx(id, 'role', role).hmget(id, 'role', 'server').pexpire(id, idleMs).exec()) as [
        number,
        Array<string | null>,
      ];
      if (fields[0] === role) return { key, role, server: serverOf(fields[1]), seenAt: now };
      // Open for another role (a release after a snapshot): a fresh session, its server not held yet.
      replies(await client().multi().del(id).hset(id, 'role', role).pexpire(id, idleMs).exec());
      return { key, role, server: undefined, seenAt: now };
    },
    async hold(session, server) {
      const id = prefix + session.key;
      replies(await client().pipeline().hsetnx(id, 'server', redisUrlText(server.href)).pexpire(id, idleMs).exec());
    },
    async end(session) {
      await client().del(prefix + session.key);
    },
  };
}

/**
 * `check --probe`: PING the configured Redis once, with a fresh connection that gives up after
 * `timeout` (at least 1 s). One line on `out`; true when it answered PONG.
 */
export async function probeRedis(settings: SessionsConfig, out: (line: string) => void): Promise<boolean> {
  const url = redisUrlText(settings.redis);
  const { Redis } = await import('ioredis');
  const wait = Math.max(settings.timeout, 1000);
  const client = new Redis(settings.redis, {
    ...clientOptions(settings),
    commandTimeout: wait,
    connectTimeout: wait,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  // ioredis rejects with "Connection is closed."; the socket's own error says why.
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  const started = performance.now();
  try {
    await client.connect();
    // ioredis goes on (on database 0) when the server refuses the URL's database: SELECT it here to say so.
    const db = redisDb(settings.redis);
    if (db !== 0) {
      try {
        await client.select(db);
      } catch (error) {
        out(`probe sessions  SELECT ${db} ${url}  → ${redisErrorText(error as Error)}; set the database to one the server has (its "databases" setting)`);
        return false;
      }
    }
    const answer = await client.ping();
    const ms = (performance.now() - started).toFixed(1);
    const ok = answer === 'PONG';
    out(`probe sessions  PING ${url}  → ${answer}${ok ? ` in ${ms} ms (connect and round trip)` : ' (expected PONG)'}`);
    return ok;
  } catch (error) {
    const reason = cause ?? (error as Error);
    const why = reason.name === 'ReplyError' ? redisErrorText(reason) : `no answer: ${redisErrorText(reason)}`;
    out(`probe sessions  PING ${url}  → ${why}; push sessions would stay in each process`);
    return false;
  } finally {
    client.disconnect();
  }
}

/** The sessions store the config asks for, or undefined (each process keeps its own). */
export function sharedSessionsFor(config: { sessions?: SessionsConfig | undefined }): SharedSessions | undefined {
  return config.sessions ? new RedisSessions(config.sessions) : undefined;
}
