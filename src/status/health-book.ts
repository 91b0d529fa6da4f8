import type { HealthEvent, HealthListener, Server } from '../upstream/pool.ts';

/** What the status page knows about one server's health beyond `Server.up`. */
export interface HealthRecord {
  up: boolean;
  /** When the current state began (ms since epoch); the router's start when it never changed. */
  since: number;
  /** False while the server has kept the state it started with (up). */
  changed: boolean;
  /** What decided the last change, and why. */
  via?: HealthEvent['via'];
  reason?: string;
  /** The last time it was taken out, and why (kept after it came back). */
  lastFailure?: { at: number; via: HealthEvent['via']; reason: string };
  /** How often it went down since the router started. */
  downs: number;
}

/**
 * The health changes of every server (each `HealthEvent` the pools emit), so the status page can
 * say since when a server is up or down and why it last failed. Events are rare (one per change),
 * so this is off the request path.
 */
export class HealthBook {
  readonly #records = new Map<string, HealthRecord>();
  /** The last event seen per server: one event handed over twice (two listeners wired) counts once. */
  readonly #last = new Map<string, HealthEvent>();

  constructor(readonly startedAt = Date.now()) {}

  /** A HealthListener: record the change. */
  readonly observe: HealthListener = (event) => {
    const at = Date.parse(event.time);
    const key = keyOf(event.site, event.upstream);
    if (this.#last.get(key) === event) return;
    this.#last.set(key, event);
    const record = this.#records.get(key) ?? { up: true, since: this.startedAt, changed: false, downs: 0 };
    const up = event.event === 'upstream_up';
    record.up = up;
    record.since = Number.isFinite(at) ? at : Date.now();
    record.changed = true;
    record.via = event.via;
    record.reason = event.reason;
    if (!up) {
      record.downs++;
      record.lastFailure = { at: record.since, via: event.via, reason: event.reason };
    }
    this.#records.set(key, record);
  };

  /**
   * The record of `server`, agreeing with its current `up`: should an event have been missed (the
   * book attached late), the state is the server's and its start time unknown (`since` undefined).
   */
  of(server: Server): Omit<HealthRecord, 'since'> & { since: number | undefined } {
    const record = this.#records.get(keyOf(server.site, server.href));
    if (!record) return server.up ? { up: true, since: this.startedAt, changed: false, downs: 0 } : { up: false, since: undefined, changed: true, downs: 0 };
    if (record.up !== server.up) return { ...record, up: server.up, since: undefined };
    return record;
  }

  /**
   * Chains the book in front of each server's `onChange` (whatever the app set: the stderr log), so
   * every change is recorded and still logged. Idempotent per server.
   */
  attach(servers: Iterable<Server>): void {
    for (const server of servers) {
      const previous = server.onChange;
      if ((previous as Tagged)[ATTACHED] === this) continue;
      const chained: HealthListener & Tagged = (event) => {
        this.observe(event);
        previous(event);
      };
      chained[ATTACHED] = this;
      server.onChange = chained;
    }
  }
}

const ATTACHED = Symbol('health-book');
type Tagged = { [ATTACHED]?: HealthBook };

const keyOf = (site: string, href: string) => `${site}\n${href}`;
