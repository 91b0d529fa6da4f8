/**
 * The whole router's status when it runs as several worker processes (`"workers"`): the primary
 * asks each worker for its own `/metrics`, `/status.json` and `/readyz` (over IPC, see
 * src/adapter/workers.ts) and merges them here. Pure functions of the workers' answers.
 */
import type { RoleStatus, ServerStatus, SiteStatus, StatusSnapshot } from './snapshot.ts';
import type { MinuteCounts } from './window.ts';

/** One worker process as the primary sees it. */
export interface WorkerInfo {
  /** 1…N, stable across restarts: the slot the worker fills. */
  id: number;
  pid: number | null;
  /** `starting` until it listens, `up`, `down` while its restart waits (back-off). */
  state: 'starting' | 'up' | 'down';
  /** When the current process of this slot started (ISO 8601). */
  startedAt: string;
  /** Times this slot's process died and was started again. */
  restarts: number;
  /** How the last process of this slot ended (null: none ended). */
  lastExit: { at: string; code: number | null; signal: string | null } | null;
}

/** A worker in `/status.json`: the primary's view plus what its own snapshot says. */
export interface WorkerStatus extends WorkerInfo {
  /** Whether it answered the primary's question this time. */
  answered: boolean;
  /** Requests to upstreams whose response has not ended, all sites. */
  inFlight: number;
  /** Requests it answered since its process started, all sites and unrouted. */
  requests: number;
}

/** `/status.json` of a router with workers: the sum of the workers' snapshots, and each worker. */
export interface MergedSnapshot extends StatusSnapshot {
  workers: WorkerStatus[];
}

/** Families whose samples are 0/1 states, not counts: the merge keeps the highest (known up in some worker). */
const STATE_FAMILIES = new Set(['registry_router_upstream_up', 'registry_router_upstream_known']);
/** 0/1 states the whole router has only when every worker has them: the lowest (the shared sessions store away in one worker shows). */
const ALL_STATE_FAMILIES = new Set(['registry_router_sessions_store_up']);

/**
 * Prometheus text (0.0.4) of several workers as one: samples with the same name and labels are
 * added (counters, histogram buckets, sums and counts, transfers in flight), except 0/1 states
 * (`registry_router_upstream_up`, `_known`), which take the highest. Families keep the order they
 * first appear in; a worker's own families follow (`workerFamilies`).
 */
export function mergeMetrics(texts: readonly string[], workers: readonly WorkerStatus[] = []): string {
  const families = new Map<string, { head: string[]; samples: Map<string, number> }>();
  for (const text of texts) {
    let current: { head: string[]; samples: Map<string, number> } | undefined;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2]!;
        current = families.get(name);
        if (!current) families.set(name, (current = { head: [], samples: new Map() }));
        if (current.head.length < 2 && !current.head.some((kept) => kept.startsWith(`# ${meta[1]} `))) current.head.push(line);
        continue;
      }
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      const name = key.replace(/\{.*$/, '');
      const family = current ?? families.get(name) ?? { head: [], samples: new Map() };
      if (!families.has(name) && !current) families.set(name, family);
      const before = family.samples.get(key);
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const merged =
        before === undefined
          ? value
          : STATE_FAMILIES.has(base)
            ? Math.max(before, value)
            : ALL_STATE_FAMILIES.has(base)
              ? Math.min(before, value)
              : before + value;
      family.samples.set(key, merged);
    }
  }
  const out: string[] = [];
  for (const { head, samples } of families.values()) {
    out.push(...head);
    for (const [key, value] of samples) out.push(`${key} ${value}`);
  }
  out.push(...workerFamilies(workers));
  return `${out.join('\n')}\n`;
}

/** The per-worker series the primary adds to `/metrics`. */
function workerFamilies(workers: readonly WorkerStatus[]): string[] {
  if (!workers.length) return [];
  const out: string[] = [];
  const family = (name: string, type: string, help: string, value: (w: WorkerStatus) => number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const worker of workers) out.push(`${name}{worker="${worker.id}"} ${value(worker)}`);
  };
  family('registry_router_worker_up', 'gauge', 'Whether a worker process listens (1) or is starting or waiting to be restarted (0).', (w) =>
    w.state === 'up' ? 1 : 0,
  );
  family('registry_router_worker_restarts_total', 'counter', 'Times a worker process died and was started again.', (w) => w.restarts);
  family('registry_router_worker_transfers_in_flight', 'gauge', 'Requests to upstreams whose response has not ended, per worker process.', (w) => w.inFlight);
  return out;
}

/**
 * `/status.json` of several workers as one: per site, request totals and minutes added, transfers
 * listed together (each with its `worker`), servers' counters added and their state taken from the
 * worker that saw it change last; problems of any worker; `workers` lists each process.
 * `snapshots[i]` is worker `infos[i]`'s answer, or undefined when it did not answer.
 */
export function mergeStatus(snapshots: ReadonlyArray<StatusSnapshot | undefined>, infos: readonly WorkerInfo[], now: number): MergedSnapshot {
  const answered = snapshots.filter((s): s is StatusSnapshot => s !== undefined);
  const workers: WorkerStatus[] = infos.map((info, i) => {
    const snapshot = snapshots[i];
    return {
      ...info,
      answered: snapshot !== undefined,
      inFlight: snapshot ? snapshot.sites.reduce((sum, site) => sum + site.inFlight, 0) : 0,
      requests: snapshot ? snapshot.sites.reduce((sum, site) => sum + site.requests.total.requests, 0) + (snapshot.unrouted?.total.requests ?? 0) : 0,
    };
  });
  const first = answered[0];
  const problems = mergeSessionsProblems([...new Set(answered.flatMap((s) => s.problems))]);
  const down = workers.filter((w) => w.state !== 'up').map((w) => `worker ${w.id}: ${w.state === 'down' ? 'exited, restarting' : 'starting'}`);
  const allProblems = [...problems, ...down];
  // A worker's problems that leave it ready (the shared sessions store away) do not unready the router.
  const ready = down.length === 0 && answered.length === infos.length && answered.every((s) => s.ready);
  const stores = answered.map((s) => s.sessions).filter((store) => store !== undefined);
  const sessions = stores.length
    ? { ...(stores.find((store) => !store.up) ?? stores[0]!), fallbacks: stores.reduce((sum, store) => sum + store.fallbacks, 0) }
    : undefined;
  const startedAt = answered.length ? answered.map((s) => s.startedAt).sort()[0]! : new Date(now).toISOString();
  const unrouted = answered.map((s) => s.unrouted).filter((u): u is NonNullable<StatusSnapshot['unrouted']> => u !== null);
  return {
    version: 2,
    now: new Date(now).toISOString(),
    startedAt,
    uptimeMs: now - Date.parse(startedAt),
    ready,
    problems: allProblems,
    ...(sessions && { sessions }),
    window: first?.window ?? { minutes: 0, bucketMs: 60_000 },
    sites: (first?.sites ?? []).map((site) =>
      mergeSite(
        answered.map((s) => s.sites.find((other) => other.name === site.name)),
        infos.filter((_, i) => snapshots[i] !== undefined).map((info) => info.id),
      ),
    ),
    unrouted: unrouted.length ? { total: sumTotals(unrouted.map((u) => u.total)), minutes: sumMinutes(unrouted.map((u) => u.minutes)) } : null,
    workers,
  };
}

/** One site of every worker that answered (`ids[i]` is the worker of `sites[i]`). */
function mergeSite(sites: ReadonlyArray<SiteStatus | undefined>, ids: readonly number[]): SiteStatus {
  const present = sites.filter((s): s is SiteStatus => s !== undefined);
  const base = present[0]!;
  return {
    ...base,
    writesPaused: present.some((s) => s.writesPaused),
    roles: base.roles.map((role) => mergeRole(present.map((s) => s.roles.find((r) => r.role === role.role)).filter((r): r is RoleStatus => !!r))),
    inFlight: present.reduce((sum, s) => sum + s.inFlight, 0),
    transfers: sites.flatMap((s, i) => (s ? s.transfers.map((t) => ({ ...t, worker: ids[i] })) : [])).sort((a, b) => a.startedAt.localeCompare(b.startedAt)),
    requests: { total: sumTotals(present.map((s) => s.requests.total)), minutes: sumMinutes(present.map((s) => s.requests.minutes)) },
  };
}

function mergeRole(roles: readonly RoleStatus[]): RoleStatus {
  const base = roles[0]!;
  return {
    role: base.role,
    retries: roles.reduce((sum, r) => sum + r.retries, 0),
    servers: base.servers.map((server) =>
      mergeServer(roles.map((r) => r.servers.find((s) => s.href === server.href && s.tier === server.tier)).filter((s): s is ServerStatus => !!s)),
    ),
  };
}

/** A server's state as the worker that saw it change last says; counts added. */
function mergeServer(servers: readonly ServerStatus[]): ServerStatus {
  const latest = [...servers].sort((a, b) => b.since.localeCompare(a.since) || Number(b.changed) - Number(a.changed))[0]!;
  const last = <T>(pick: (s: ServerStatus) => T | null, at: (v: T) => string): T | null =>
    servers
      .map(pick)
      .filter((v): v is T => v !== null)
      .sort((a, b) => at(b).localeCompare(at(a)))[0] ?? null;
  return {
    ...latest,
    lastCheck: last(
      (s) => s.lastCheck,
      (v) => v.at,
    ),
    lastAnswer: last(
      (s) => s.lastAnswer,
      (v) => v.at,
    ),
    lastFailure: last(
      (s) => s.lastFailure,
      (v) => v.at,
    ),
    downs: servers.reduce((sum, s) => sum + s.downs, 0),
    failures: servers.reduce((sum, s) => sum + s.failures, 0),
    inFlight: servers.reduce((sum, s) => sum + s.inFlight, 0),
  };
}

function sumTotals(totals: ReadonlyArray<SiteStatus['requests']['total']>): SiteStatus['requests']['total'] {
  return totals.reduce(
    (sum, t) => ({
      requests: sum.requests + t.requests,
      clientErrors: sum.clientErrors + t.clientErrors,
      serverErrors: sum.serverErrors + t.serverErrors,
      bytesIn: sum.bytesIn + t.bytesIn,
      bytesOut: sum.bytesOut + t.bytesOut,
    }),
    { requests: 0, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 },
  );
}

/** Minutes added by their start (workers asked a moment apart may disagree on the current minute). */
function sumMinutes(lists: ReadonlyArray<readonly MinuteCounts[]>): MinuteCounts[] {
  const byStart = new Map<string, MinuteCounts>();
  for (const list of lists) {
    for (const m of list) {
      const sum = byStart.get(m.start);
      byStart.set(
        m.start,
        sum
          ? {
              start: m.start,
              requests: sum.requests + m.requests,
              clientErrors: sum.clientErrors + m.clientErrors,
              serverErrors: sum.serverErrors + m.serverErrors,
              bytesIn: sum.bytesIn + m.bytesIn,
              bytesOut: sum.bytesOut + m.bytesOut,
            }
          : { ...m },
      );
    }
  }
  const size = lists[0]?.length ?? 0;
  return [...byStart.values()].sort((a, b) => a.start.localeCompare(b.start)).slice(-size);
}

/** A worker's sessions-store line of /readyz (status/admin.ts `sessionsProblems`). */
const SESSIONS_AWAY = /^sessions: (\S+ store \S+) is away since (\S+) \((.*)\); push sessions are kept in each process meanwhile \((\d+) calls so far\)$/;

/**
 * The workers' lines about one sessions store away, as one: each worker says it with its own time, reason (`connection
 * closed`, `connect ECONNREFUSED`) and count, so identical strings would not merge. The earliest time, the first
 * worker's reason, the calls of all added up. Other problems stay as they are, in order.
 */
export function mergeSessionsProblems(problems: readonly string[]): string[] {
  const stores = new Map<string, { since: string; reason: string; calls: number; workers: number }>();
  for (const line of problems) {
    const match = SESSIONS_AWAY.exec(line);
    if (!match) continue;
    const [, store, since, reason, calls] = match as unknown as [string, string, string, string, string];
    const known = stores.get(store);
    if (!known) stores.set(store, { since, reason, calls: Number(calls), workers: 1 });
    else {
      if (since < known.since) known.since = since;
      known.calls += Number(calls);
      known.workers++;
    }
  }
  const merged: string[] = [];
  const said = new Set<string>();
  for (const line of problems) {
    const store = SESSIONS_AWAY.exec(line)?.[1];
    if (!store) merged.push(line);
    else if (!said.has(store)) {
      said.add(store);
      const { since, reason, calls, workers } = stores.get(store)!;
      const of = workers > 1 ? ` in ${workers} workers` : '';
      merged.push(`sessions: ${store} is away since ${since} (${reason}); push sessions are kept in each process meanwhile (${calls} calls so far${of})`);
    }
  }
  return merged;
}

/** `/readyz` of several workers: not ready when any worker is not up, did not answer or answered 503; problems of all listed. */
export function mergeReadyz(
  answers: ReadonlyArray<{ status: number; body: { problems?: string[]; sites?: unknown[] } } | undefined>,
  infos: readonly WorkerInfo[],
): { status: number; body: { status: string; problems: string[]; sites: unknown[]; workers: Array<{ id: number; state: string; ready: boolean }> } } {
  const problems = mergeSessionsProblems([...new Set(answers.flatMap((a) => a?.body.problems ?? []))]);
  infos.forEach((info, i) => {
    if (!answers[i] && info.state === 'up') problems.push(`worker ${info.id}: did not answer`);
    else if (info.state !== 'up') problems.push(`worker ${info.id}: ${info.state === 'down' ? 'exited, restarting' : 'starting'}`);
  });
  // Ready when every worker is up and said so: problems that leave a worker ready (the shared sessions store away) are listed only.
  const ready = infos.every((info, i) => info.state === 'up' && answers[i]?.status === 200);
  return {
    status: ready ? 200 : 503,
    body: {
      status: ready ? 'ready' : 'not ready',
      problems,
      sites: answers.find((a) => a)?.body.sites ?? [],
      workers: infos.map((info, i) => ({ id: info.id, state: info.state, ready: answers[i]?.status === 200 })),
    },
  };
}
