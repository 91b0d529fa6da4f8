import { poolServers, type UpstreamPoolConfig } from '../config/ha.ts';
import type { Role } from '../rules/rule.ts';
import { Upstream } from './upstream.ts';

/** A server's health as the router knows it: `unknown` until a check or an answer says otherwise. */
export type HealthState = 'up' | 'down' | 'unknown';

/** A change of a server's health, logged as one JSON line (see upstream/health.ts). */
export interface HealthEvent {
  time: string;
  /** `upstream_unknown`: a failed server's back-off ended without active checks; nothing has said it is back. */
  event: 'upstream_down' | 'upstream_up' | 'upstream_unknown';
  site: string;
  upstream: string;
  /** What decided: a failed or answered request (`passive`), a health check (`active`), or the end of the back-off. */
  via: 'passive' | 'active' | 'backoff';
  reason: string;
  /** How long it was out (upstream_up only, after a failure). */
  downMs?: number;
}

export type HealthListener = (event: HealthEvent) => void;

/** What a server's health record holds (Server.health): the status page and /readyz show it. */
export interface HealthRecord {
  state: HealthState;
  /** When the current state began (ms since epoch); the router's start for the first state. */
  since: number;
  /** False while the server keeps the state it started with (unknown). */
  changed: boolean;
  /** What decided the current state, and why (the first state: how it will be decided). */
  via: HealthEvent['via'] | null;
  reason: string;
  /** The last active check: when, whether it passed, what it saw. */
  lastCheck: { at: number; ok: boolean; reason: string } | null;
  /** The last request it answered (passive evidence that it is up): when, with which status. */
  lastAnswer: { at: number; status: number } | null;
  /** The last time it was taken out, and why (kept after it came back). */
  lastFailure: { at: number; via: HealthEvent['via']; reason: string } | null;
  /** How often it went down since the router started. */
  downs: number;
}

/**
 * One origin of a site with its health and load. A URL listed in several roles of a site (read
 * pool and write pool) is one Server: its health is one fact.
 *
 * Health is what was last seen, never assumed: `unknown` until a health check passes or a request
 * is answered (then `up`), `down` after a failed check or request. Only `down` keeps requests away
 * (`available`): an unknown server is tried, since an attempt tells more than a guess.
 */
export class Server {
  readonly upstream: Upstream;
  /** Requests to this server whose response has not ended yet (least-connections, in-flight gauge). */
  active = 0;
  /** Requests that failed on this server (passive failures), for /metrics. */
  failures = 0;
  /** Set by the app; receives each change that matters once (see #change). */
  onChange: HealthListener = () => {};
  #state: HealthState = 'unknown';
  #since: number;
  #changed = false;
  #via: HealthEvent['via'] | null = null;
  #reason: string;
  #downs = 0;
  #lastCheck: HealthRecord['lastCheck'] = null;
  #lastFailure: HealthRecord['lastFailure'] = null;
  // The last answer as two numbers: set on every answered request, so nothing is allocated there.
  #answeredAt = 0;
  #answeredStatus = 0;
  /** When it went down; kept through `unknown` so that the next `up` says how long it was out. */
  #downSince = 0;
  #recovering = false;
  /** Not used again before this time, even if a health check passes (a passive failure's back-off). */
  #retryAt = 0;

  constructor(
    readonly site: string,
    href: string,
    /** How long a passive failure keeps the server out. */
    readonly backoffMs: number,
    /** True when active checks run for this server: only they bring it back. */
    readonly checked: boolean,
    now = Date.now(),
  ) {
    this.upstream = new Upstream(href);
    this.#since = now;
    this.#reason = checked ? 'not checked yet (the first check is under way)' : 'not checked: active checks are off and no request has been answered yet';
  }

  get href(): string {
    return this.upstream.href;
  }

  /** The health as last decided, after ending a back-off that is over (see `available`). */
  state(now = Date.now()): HealthState {
    this.#expire(now);
    return this.#state;
  }

  /** Known to be up (a check passed or a request was answered, and nothing failed since). */
  get up(): boolean {
    return this.#state === 'up';
  }

  /** Everything known about the server's health, for the status page and /readyz. */
  health(now = Date.now()): HealthRecord {
    this.#expire(now);
    return {
      state: this.#state,
      since: this.#since,
      changed: this.#changed,
      via: this.#via,
      reason: this.#reason,
      lastCheck: this.#lastCheck,
      lastAnswer: this.#answeredAt ? { at: this.#answeredAt, status: this.#answeredStatus } : null,
      lastFailure: this.#lastFailure,
      downs: this.#downs,
    };
  }

  /**
   * May a request go here now? Anything but known down. Without active checks a failed server's
   * back-off ends by itself and it is `unknown` again (the next request is the check); with them,
   * only a passed check brings it back.
   */
  available(now = Date.now()): boolean {
    this.#expire(now);
    return this.#state !== 'down';
  }

  /** A request failed here (connect error, reset, a fail status), or a health check did. */
  failed(via: 'passive' | 'active', reason: string, now = Date.now()): void {
    if (via === 'passive') {
      this.failures++;
      this.#retryAt = Math.max(this.#retryAt, now + this.backoffMs);
    } else {
      this.#lastCheck = { at: now, ok: false, reason };
    }
    if (this.#state !== 'down') this.#change('down', via, reason, now);
  }

  /** A health check passed: up, unless a passive failure's back-off still runs. */
  passed(reason: string, now = Date.now()): void {
    this.#lastCheck = { at: now, ok: true, reason };
    if (this.#state === 'down' && now < this.#retryAt) return;
    if (this.#state !== 'up') this.#change('up', 'active', reason, now);
  }

  /**
   * A request was answered here with `status` (not a fail status: those go to `failed`). Evidence
   * that an `unknown` server is up; a `down` one comes back only by a check or its back-off.
   */
  answered(status: number, now = Date.now()): void {
    this.#answeredAt = now;
    this.#answeredStatus = status;
    if (this.#state === 'unknown') this.#change('up', 'passive', `a request was answered (${status})`, now);
  }

  /** Without active checks, the end of a back-off makes a down server `unknown` (not up: nobody looked). */
  #expire(now: number): void {
    if (this.#state === 'down' && !this.checked && now >= this.#retryAt) {
      this.#change(
        'unknown',
        'backoff',
        `back-off of ${this.backoffMs / 1000} s is over; not checked since (active checks are off): the next request decides`,
        now,
      );
    }
  }

  /**
   * Records the change. The log hears of a server going down, of it coming back after that, and
   * of a back-off ending unchecked; a first verdict of `up` is recorded here but not logged (every
   * server would log one line at start).
   */
  #change(state: HealthState, via: HealthEvent['via'], reason: string, now: number): void {
    const recovered = this.#recovering;
    this.#state = state;
    this.#since = now;
    this.#changed = true;
    this.#via = via;
    this.#reason = reason;
    if (state === 'down') {
      this.#downs++;
      this.#lastFailure = { at: now, via, reason };
      if (!this.#recovering) this.#downSince = now;
      this.#recovering = true;
    } else if (state === 'up') {
      this.#recovering = false;
      if (!recovered) return;
    }
    this.onChange({
      time: new Date(now).toISOString(),
      event: state === 'up' ? 'upstream_up' : state === 'down' ? 'upstream_down' : 'upstream_unknown',
      site: this.site,
      upstream: this.href,
      via,
      reason,
      ...(state === 'up' && { downMs: now - this.#downSince }),
    });
  }
}

/**
 * The servers of one role. Primaries share the load by least connections: registry traffic mixes
 * millisecond manifest HEADs with blob transfers that run for minutes, so counting requests (round
 * robin) would stack long transfers on one server while another idles; counting the transfers still
 * running balances the work actually in flight. Ties go round robin, so equally loaded servers take
 * turns. Backups take requests only when no primary is available.
 */
export class Pool {
  #turn = 0;
  /** Requests this pool sent again to another server after a failure (for /metrics). */
  retries = 0;

  constructor(
    readonly role: Role,
    readonly primaries: readonly Server[],
    readonly backups: readonly Server[],
  ) {}

  get servers(): readonly Server[] {
    return [...this.primaries, ...this.backups];
  }

  /** The healthy server to use next, skipping `skip`; backups only when allowed and no primary is available. */
  pick(backups: boolean, skip: ReadonlySet<Server> = NONE, now = Date.now()): Server | undefined {
    const turn = this.#turn++;
    if (this.#turn > 1e9) this.#turn = 0;
    return leastConnections(this.primaries, skip, now, turn) ?? (backups ? leastConnections(this.backups, skip, now, turn) : undefined);
  }

  /**
   * When every server looks down: the first untried one anyway (primaries first), since an attempt
   * may succeed where a refusal surely fails. Health marks are a guess until the next check.
   */
  lastResort(backups: boolean, skip: ReadonlySet<Server> = NONE): Server | undefined {
    return this.primaries.find((s) => !skip.has(s)) ?? (backups ? this.backups.find((s) => !skip.has(s)) : undefined);
  }

  /**
   * The primary that `subject` (a repository name) hashes to among the available ones: rendezvous
   * (highest random weight) hashing, so every router instance with the same config and the same
   * view of health picks the same server, and a server going down moves only its own subjects.
   * With `all`, health is ignored (the server the subject belongs to when every primary is up).
   */
  pinned(subject: string, all = false, now = Date.now()): Server | undefined {
    let best: Server | undefined;
    let bestWeight = -1;
    for (const server of this.primaries) {
      if (!all && !server.available(now)) continue;
      const weight = rendezvousWeight(server.href, subject);
      if (weight > bestWeight) {
        best = server;
        bestWeight = weight;
      }
    }
    return best;
  }

  /** Is there a healthy server for reads (any), or for writes (a primary, or a backup when allowed)? */
  ready(backups: boolean, now = Date.now()): boolean {
    return this.primaries.some((s) => s.available(now)) || (backups && this.backups.some((s) => s.available(now)));
  }
}

const NONE: ReadonlySet<Server> = new Set();

/**
 * The weight of `server` for `subject`: a 32-bit FNV-1a of both, then a murmur3 finalizer so that
 * similar names spread evenly. Stable across processes and runtimes (no seed, no Math.random).
 */
export function rendezvousWeight(server: string, subject: string): number {
  let hash = 0x811c9dc5;
  const text = `${server}\n${subject}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function leastConnections(servers: readonly Server[], skip: ReadonlySet<Server>, now: number, turn: number): Server | undefined {
  let best: Server | undefined;
  const n = servers.length;
  for (let i = 0; i < n; i++) {
    const server = servers[(turn + i) % n]!;
    if (skip.has(server) || !server.available(now)) continue;
    if (!best || server.active < best.active) best = server;
  }
  return best;
}

/** A site's pools by role: `read` and `write` always, named roles (Maven's `snapshots`) when configured. */
export type RolePools = { readonly read: Pool; readonly write: Pool; readonly [role: string]: Pool };

export interface SitePools {
  readonly pools: RolePools;
  /** Every distinct server of the site, primaries of `read` first. */
  readonly servers: readonly Server[];
}

/** The site's pools from its `upstream`/`upstreams` config (`read`, `write`, and any named roles); one Server per distinct URL. */
export function compilePools(
  site: string,
  roles: Readonly<Record<Role, UpstreamPoolConfig>>,
  /** `checked`: active checks run for these servers (then only a passed check brings one back). */
  options: { backoffMs: number; checked: boolean },
): SitePools {
  const configs = Object.entries(roles).map(([role, pool]) => [role, poolServers(pool)] as const);
  const distinct = new Map<string, string>();
  for (const [, { servers, backup }] of configs) for (const href of [...servers, ...backup]) if (!distinct.has(key(href))) distinct.set(key(href), href);
  const servers = new Map<string, Server>();
  for (const [k, href] of distinct) servers.set(k, new Server(site, href, options.backoffMs, options.checked));
  const resolve = (hrefList: readonly string[]) => hrefList.map((href) => servers.get(key(href))!);
  return {
    pools: Object.fromEntries(configs.map(([role, config]) => [role, new Pool(role, resolve(config.servers), resolve(config.backup))])) as RolePools,
    servers: [...servers.values()],
  };
}

/** `http://a:80/x/` and `http://a/x` are one server. */
function key(href: string): string {
  return new URL(href).href.replace(/\/+$/, '');
}
