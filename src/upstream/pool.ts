import { poolServers, type UpstreamPoolConfig } from '../config/ha.ts';
import type { Role } from '../rules/rule.ts';
import { Upstream } from './upstream.ts';

/** A change of a server's health, logged as one JSON line (see upstream/health.ts). */
export interface HealthEvent {
  time: string;
  event: 'upstream_down' | 'upstream_up';
  site: string;
  upstream: string;
  /** What decided: a failed request (`passive`), a health check (`active`), or the end of the back-off. */
  via: 'passive' | 'active' | 'backoff';
  reason: string;
  /** How long it was down (upstream_up only). */
  downMs?: number;
}

export type HealthListener = (event: HealthEvent) => void;

/**
 * One origin of a site with its health and load. A URL listed in several roles of a site (read
 * pool and write pool) is one Server: its health is one fact.
 */
export class Server {
  readonly upstream: Upstream;
  /** Requests to this server whose response has not ended yet (least-connections, in-flight gauge). */
  active = 0;
  /** Requests that failed on this server (passive failures), for /metrics. */
  failures = 0;
  /** Set by the app; receives each up/down change once. */
  onChange: HealthListener = () => {};
  #up = true;
  #downSince = 0;
  /** Not used again before this time, even if a health check passes (a passive failure's back-off). */
  #retryAt = 0;

  constructor(
    readonly site: string,
    href: string,
    /** How long a passive failure keeps the server out. */
    readonly backoffMs: number,
    /** True when active checks run for this server: only they bring it back. */
    readonly checked: boolean,
  ) {
    this.upstream = new Upstream(href);
  }

  get href(): string {
    return this.upstream.href;
  }

  /** The health as last decided, without side effects (metrics, readiness). */
  get up(): boolean {
    return this.#up;
  }

  /**
   * May a request go here now? Without active checks a server comes back by itself once its
   * back-off is over (the next request is the check); with them, only a passed check brings it back.
   */
  available(now = Date.now()): boolean {
    if (this.#up) return true;
    if (!this.checked && now >= this.#retryAt) {
      this.#change(true, 'backoff', `back-off of ${this.backoffMs / 1000} s is over`, now);
      return true;
    }
    return false;
  }

  /** A request failed here (connect error, reset, a fail status), or a health check did. */
  failed(via: 'passive' | 'active', reason: string, now = Date.now()): void {
    if (via === 'passive') {
      this.failures++;
      this.#retryAt = Math.max(this.#retryAt, now + this.backoffMs);
    }
    if (this.#up) this.#change(false, via, reason, now);
  }

  /** A health check passed: up again, unless a passive failure's back-off still runs. */
  passed(reason: string, now = Date.now()): void {
    if (!this.#up && now >= this.#retryAt) this.#change(true, 'active', reason, now);
  }

  #change(up: boolean, via: HealthEvent['via'], reason: string, now: number): void {
    const downMs = now - this.#downSince;
    this.#up = up;
    if (!up) this.#downSince = now;
    this.onChange({
      time: new Date(now).toISOString(),
      event: up ? 'upstream_up' : 'upstream_down',
      site: this.site,
      upstream: this.href,
      via,
      reason,
      ...(up && { downMs }),
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

/** Does some role have more than one server, i.e. something to fail over to? */
export function hasFailover(roles: Readonly<Record<Role, UpstreamPoolConfig>>): boolean {
  return Object.values(roles).some((pool) => {
    const { servers, backup } = poolServers(pool);
    return servers.length + backup.length > 1;
  });
}

/** `http://a:80/x/` and `http://a/x` are one server. */
function key(href: string): string {
  return new URL(href).href.replace(/\/+$/, '');
}
