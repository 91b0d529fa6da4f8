import type { AccessEntry, AccessLog } from '../access-log.ts';
import type { SharedSessions } from '../site/push-sessions.ts';
import type { Site } from '../site/site.ts';
import type { Server } from '../upstream/pool.ts';
import { Transfers } from './transfers.ts';
import { MinuteWindow, type MinuteCounts } from './window.ts';

/** Request duration buckets in seconds: manifest HEADs take milliseconds, layer transfers minutes. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;

interface Series {
  /** The rendered label set, e.g. `site="docker",role="read",upstream="http://a:8082"`. */
  readonly labels: string;
  readonly byStatus: Map<number, number>;
  bytesIn: number;
  bytesOut: number;
}

interface Histogram {
  readonly labels: string;
  readonly buckets: number[];
  count: number;
  sum: number;
}

type Nested<T> = Map<string, Map<string, Map<string, T>>>;

/** Totals of one site since the router started, for the status page. */
export interface RequestTotals {
  requests: number;
  clientErrors: number;
  serverErrors: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * Request counters fed by the access log: every request is logged exactly once, when its body has
 * ended, with everything the counters need (site, role, upstream, status, bytes, duration). The hot
 * path does a few map lookups keyed by the label values it already has and bumps numbers: the label
 * strings are built once per new combination. Upstream health and transfers in flight are read from
 * the pools when scraped.
 *
 * For the status page (status/): per-site per-minute buckets of the last minutes (O(1) per request,
 * see status/window.ts) and the exchanges in flight (`transfers`, fed by whoever calls
 * `transfers.begin`). Once `watch`ed, each answered request is also passive evidence of its
 * server's health (`Server.answered`).
 */
export class Metrics {
  readonly #series: Nested<Series> = new Map();
  readonly #durations = new Map<string, Map<string, Histogram>>();
  readonly #windows = new Map<string, MinuteWindow>();
  readonly startedAt: number;
  readonly transfers: Transfers;
  /** Per site name: its fail statuses and its servers by URL (see `watch`). */
  readonly #watched = new Map<string, { failStatuses: ReadonlySet<number>; servers: Map<string, Server> }>();
  /** The shared sessions store (Redis), when the config has one: its state is read when scraped. */
  sessions: Pick<SharedSessions, 'status'> | undefined;

  constructor(readonly now: () => number = Date.now) {
    this.startedAt = now();
    this.transfers = new Transfers(now);
  }

  /**
   * From now on, a request logged as answered by one of these sites' servers (no `error`, not one
   * of the site's fail statuses, which count as failures already) tells that server it answered.
   */
  watch(sites: readonly Site[]): void {
    for (const site of sites) {
      const servers = new Map(site.servers.map((server) => [server.href, server] as const));
      this.#watched.set(site.name, { failStatuses: site.health.failStatuses, servers });
    }
  }

  /** Wraps an access log so that each entry is counted before it is written. */
  counting(log: AccessLog): AccessLog {
    return (entry) => {
      this.record(entry);
      log(entry);
    };
  }

  record(entry: AccessEntry): void {
    const site = entry.site ?? '';
    const role = entry.role ?? '';
    const series = this.#seriesFor(site, role, entry.upstream ?? '');
    series.byStatus.set(entry.status, (series.byStatus.get(entry.status) ?? 0) + 1);
    series.bytesIn += entry.bytesIn;
    series.bytesOut += entry.bytesOut;
    const histogram = this.#histogramFor(site, role);
    const seconds = entry.durationMs / 1000;
    histogram.count++;
    histogram.sum += seconds;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (seconds <= DURATION_BUCKETS[i]!) histogram.buckets[i]!++;
    let recent = this.#windows.get(site);
    if (!recent) this.#windows.set(site, (recent = new MinuteWindow(WINDOW_MINUTES)));
    const now = this.now();
    recent.record(now, entry.status, entry.bytesIn, entry.bytesOut);
    if (entry.upstream !== null && entry.error === undefined) {
      const watched = this.#watched.get(site);
      if (watched && !watched.failStatuses.has(entry.status)) watched.servers.get(entry.upstream)?.answered(entry.status, now);
    }
  }

  /** The last minutes of `site` (`''`: requests no site took), oldest first; the last one is the current minute. */
  minutes(site: string): MinuteCounts[] {
    return (this.#windows.get(site) ?? EMPTY_WINDOW).minutes(this.now());
  }

  /** Has a request of `site` been counted (`''`: one no site took, e.g. 421)? */
  hasSite(site: string): boolean {
    return this.#series.has(site);
  }

  /** Totals of `site` since the start, summed from the counters (read when asked, not per request). */
  totals(site: string): RequestTotals {
    const totals: RequestTotals = { requests: 0, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 };
    for (const byUpstream of this.#series.get(site)?.values() ?? []) {
      for (const series of byUpstream.values()) {
        for (const [status, count] of series.byStatus) {
          totals.requests += count;
          if (status >= 500) totals.serverErrors += count;
          else if (status >= 400) totals.clientErrors += count;
        }
        totals.bytesIn += series.bytesIn;
        totals.bytesOut += series.bytesOut;
      }
    }
    return totals;
  }

  #seriesFor(site: string, role: string, upstream: string): Series {
    let byRole = this.#series.get(site);
    if (!byRole) this.#series.set(site, (byRole = new Map()));
    let byUpstream = byRole.get(role);
    if (!byUpstream) byRole.set(role, (byUpstream = new Map()));
    let series = byUpstream.get(upstream);
    if (!series) {
      series = { labels: labelSet({ site, role, upstream }), byStatus: new Map(), bytesIn: 0, bytesOut: 0 };
      byUpstream.set(upstream, series);
    }
    return series;
  }

  #histogramFor(site: string, role: string): Histogram {
    let byRole = this.#durations.get(site);
    if (!byRole) this.#durations.set(site, (byRole = new Map()));
    let histogram = byRole.get(role);
    if (!histogram) {
      histogram = { labels: labelSet({ site, role }), buckets: DURATION_BUCKETS.map(() => 0), count: 0, sum: 0 };
      byRole.set(role, histogram);
    }
    return histogram;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(sites: readonly Site[]): string {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const all: Series[] = [];
    for (const byRole of this.#series.values()) for (const byUpstream of byRole.values()) all.push(...byUpstream.values());

    family('registry_router_requests_total', 'counter', 'Requests answered, by site, role, upstream (empty when the router answered itself) and status.');
    for (const series of all) {
      for (const [status, count] of series.byStatus) out.push(`registry_router_requests_total{${series.labels},status="${status}"} ${count}`);
    }
    family('registry_router_received_bytes_total', 'counter', 'Request body bytes received from clients.');
    for (const series of all) out.push(`registry_router_received_bytes_total{${series.labels}} ${series.bytesIn}`);
    family('registry_router_sent_bytes_total', 'counter', 'Response body bytes sent to clients.');
    for (const series of all) out.push(`registry_router_sent_bytes_total{${series.labels}} ${series.bytesOut}`);

    family('registry_router_request_duration_seconds', 'histogram', 'Time from request to the end of the response body, by site and role.');
    for (const byRole of this.#durations.values()) {
      for (const h of byRole.values()) {
        DURATION_BUCKETS.forEach((le, i) => out.push(`registry_router_request_duration_seconds_bucket{${h.labels},le="${le}"} ${h.buckets[i]}`));
        out.push(`registry_router_request_duration_seconds_bucket{${h.labels},le="+Inf"} ${h.count}`);
        out.push(`registry_router_request_duration_seconds_sum{${h.labels}} ${h.sum}`);
        out.push(`registry_router_request_duration_seconds_count{${h.labels}} ${h.count}`);
      }
    }

    const now = this.now();
    const tiers = (site: Site) =>
      Object.values(site.pools).flatMap((pool) =>
        (
          [
            ['primary', pool.primaries],
            ['backup', pool.backups],
          ] as const
        ).flatMap(([tier, servers]) =>
          servers.map((server) => ({ labels: labelSet({ site: site.name, role: pool.role, upstream: server.href, tier }), state: server.state(now) })),
        ),
      );
    const rows = sites.flatMap(tiers);
    family(
      'registry_router_upstream_up',
      'gauge',
      'Whether a server is known up (1: a check passed or a request was answered) or not (0: down, or unknown), per site, role and tier.',
    );
    for (const row of rows) out.push(`registry_router_upstream_up{${row.labels}} ${row.state === 'up' ? 1 : 0}`);
    family(
      'registry_router_upstream_known',
      'gauge',
      "Whether a server's health is known (1) or unknown (0: not checked yet, or its back-off ended without active checks).",
    );
    for (const row of rows) out.push(`registry_router_upstream_known{${row.labels}} ${row.state === 'unknown' ? 0 : 1}`);
    family('registry_router_upstream_transfers_in_flight', 'gauge', 'Requests sent to a server whose response has not ended yet.');
    for (const site of sites)
      for (const server of site.servers)
        out.push(`registry_router_upstream_transfers_in_flight{${labelSet({ site: site.name, upstream: server.href })}} ${server.active}`);
    family('registry_router_upstream_failures_total', 'counter', 'Requests that failed on a server (connect errors, resets, fail statuses).');
    for (const site of sites)
      for (const server of site.servers)
        out.push(`registry_router_upstream_failures_total{${labelSet({ site: site.name, upstream: server.href })}} ${server.failures}`);
    family('registry_router_retries_total', 'counter', 'GET/HEAD requests sent again to another server after a failure.');
    for (const site of sites)
      for (const pool of Object.values(site.pools))
        out.push(`registry_router_retries_total{${labelSet({ site: site.name, role: pool.role })}} ${pool.retries}`);
    if (this.sessions) {
      const store = this.sessions.status();
      const labels = labelSet({ store: store.store });
      family('registry_router_sessions_store_up', 'gauge', 'Whether the shared sessions store answered its last call in time (1) or is away (0).');
      out.push(`registry_router_sessions_store_up{${labels}} ${store.up ? 1 : 0}`);
      family(
        'registry_router_sessions_fallbacks_total',
        'counter',
        "Session calls answered from the process's own sessions because the shared store was away or slow.",
      );
      out.push(`registry_router_sessions_fallbacks_total{${labels}} ${store.fallbacks}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** Minutes of history per site on the status page. */
export const WINDOW_MINUTES = 5;
const EMPTY_WINDOW = new MinuteWindow(WINDOW_MINUTES);

function labelSet(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
    .join(',');
}

/** Label values escape backslash, double quote and line feed. */
export const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
