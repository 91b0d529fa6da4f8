/**
 * `"workers": N` (N > 1): one primary process and N worker processes that serve the same
 * listeners, the same on Node, Bun and Deno (each adapter says how it starts a worker and how
 * connections reach it):
 * - Node: the primary listens (pauseOnConnect) and hands each connection to the worker its client
 *   address hashes to (`workerFor`), so one client stays on one process (node/workers.ts).
 * - Bun, Deno: each worker listens on the same address with SO_REUSEPORT and the kernel spreads the
 *   connections: one client's connections land on different processes.
 * The primary: starts the workers (the first one alone when the ports come from it), prints the
 * start lines once every worker listens, starts a worker again when it dies (after a back-off
 * that grows while it keeps dying young), forwards SIGHUP to every worker, and on SIGTERM/SIGINT
 * tells every worker to drain and exits once all have. It alone runs the admin listener: the
 * status page, and `/status.json`, `/metrics`, `/readyz` merged from each worker's answer over IPC
 * (src/status/merge.ts).
 */
import type { StartOptions } from '../config/cli.ts';
import { mergeMetrics, mergeReadyz, mergeStatus, type WorkerInfo, type WorkerStatus } from '../status/merge.ts';
import { ADMIN_ENDPOINTS, statusPageResponse } from '../status/admin.ts';
import type { StatusSnapshot } from '../status/snapshot.ts';
import { listeningLine, startAdminWith, stoppingLine, type AdminStart, type ProcessHooks } from './lifecycle.ts';
import { claimListenAddresses } from './workers-claim.ts';
import { becomeWorker, workerAdmin, WORKER_ENV, type WorkerRole } from './workers-role.ts';

/** A worker process as the primary holds it (a child process, or Node's cluster worker). */
export interface WorkerProcess {
  readonly pid: number | undefined;
  /**
   * An IPC message; `handle` a socket to hand over (Node), which stays open here too until the
   * worker says it has it; `sent` says whether it went (an exited worker's channel fails).
   */
  send(message: unknown, handle?: unknown, sent?: (error: Error | null) => void): void;
  onMessage(handler: (message: unknown) => void): void;
  onExit(handler: (code: number | null, signal: string | null) => void): void;
  kill(signal: 'SIGHUP' | 'SIGTERM' | 'SIGKILL'): void;
}

/** What the primary sends a worker. */
export type ToWorker = { t: 'start'; start: StartOptions; role: WorkerRole } | { t: 'admin'; n: number; path: string };
/** What a worker sends the primary. */
export type FromWorker =
  | { t: 'hello' }
  | { t: 'listening'; line: string }
  | { t: 'admin'; n: number; status: number; body: string }
  /** Node: the worker has the connection `n` the primary handed over. */
  | { t: 'got'; n: number };

/** A listener as the start line shows it. */
export interface Bound {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/**
 * The worker slot (0…count-1) a client address goes to: FNV-1a of the address, modulo the count.
 * The same address always gets the same slot; when that slot's worker is not up, the next one up.
 */
export function workerFor(address: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) {
    hash ^= address.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** A worker that dies younger than this counts as a crash in a row (the back-off grows). */
const YOUNG_MS = 10_000;

/** The wait before starting a worker again after `crashes` deaths in a row: 0.5 s, doubling, at most 30 s. */
export const restartDelayMs = (crashes: number): number => Math.min(30_000, 500 * 2 ** Math.max(0, crashes - 1));

/** `listening on http://host:port (…)` → its scheme, host and port. */
export function parseListening(line: string): Bound | undefined {
  const match = /^registry-router listening on (https?):\/\/(\[[^\]]+\]|[^:/]+):(\d+) /.exec(line);
  if (!match) return undefined;
  return { scheme: match[1] as Bound['scheme'], host: match[2]!.replace(/^\[|\]$/g, ''), port: Number(match[3]) };
}

interface Slot {
  info: WorkerInfo;
  proc?: WorkerProcess;
  lines: string[];
  bornAt: number;
  crashes: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** The primary's own listeners (Node). */
export interface Accepting {
  bound: Bound[];
  close(): void;
  /** A worker's message the primary does not handle itself (`got`). */
  message(from: WorkerProcess, message: FromWorker): void;
  /** A worker exited: what it had not taken yet goes to another. */
  exited(worker: WorkerProcess): void;
}

export interface PrimaryOptions {
  start: StartOptions;
  count: number;
  /** How connections reach the workers, for the start line ("client address → worker", "reusePort"). */
  sharing: WorkerRole['sharing'];
  fork(id: number): WorkerProcess;
  hooks: ProcessHooks;
  admin: AdminStart;
  /**
   * Node: the primary's own listeners, already listening; `route` gives the worker for a client
   * address. Bun, Deno: undefined (the workers listen; the first one's ports go to the others).
   */
  accept?: (route: (address: string | undefined) => WorkerProcess | undefined) => Promise<Accepting>;
}

/**
 * Runs the primary until SIGTERM/SIGINT (then exits 0 once every worker has drained), or exits
 * with a worker's exit code when a worker fails before the router first listened (a certificate
 * that cannot be used, an address in use).
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { count, hooks, start } = options;
  const config = start.config;
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    info: { id: i + 1, pid: null, state: 'starting', startedAt: new Date().toISOString(), restarts: 0, lastExit: null },
    lines: [],
    bornAt: Date.now(),
    crashes: 0,
  }));
  let stopping = false;
  let listening = false;
  let workerStart = start;
  let own: Accepting | undefined;
  const pending: Array<{ n: number; resolve: (answer: { status: number; body: string } | undefined) => void }> = [];
  let nextQuestion = 1;
  let onAllUp: () => void = () => {};
  const allUp = new Promise<void>((done) => (onAllUp = done));

  const route = (address: string | undefined): WorkerProcess | undefined => {
    const first = workerFor(address ?? '', count);
    for (let k = 0; k < count; k++) {
      const slot = slots[(first + k) % count]!;
      if (slot.info.state === 'up' && slot.proc) return slot.proc;
    }
    return undefined;
  };

  const spawn = (slot: Slot): void => {
    const proc = options.fork(slot.info.id);
    slot.proc = proc;
    slot.lines = [];
    slot.bornAt = Date.now();
    slot.info = { ...slot.info, pid: proc.pid ?? null, state: 'starting', startedAt: new Date().toISOString() };
    proc.onMessage((raw) => {
      const message = raw as FromWorker;
      // Sent before the worker listens for messages, the start would be lost: it asks once it does.
      if (message?.t === 'hello') {
        proc.send({ t: 'start', start: workerStart, role: { id: slot.info.id, count, sharing: options.sharing } } satisfies ToWorker);
      } else if (message?.t === 'listening') {
        slot.lines.push(message.line);
        if (slot.lines.length === config.listen.length) up(slot);
      } else if (message?.t === 'admin') {
        const at = pending.findIndex((p) => p.n === message.n);
        if (at >= 0) pending.splice(at, 1)[0]!.resolve({ status: message.status, body: message.body });
      } else if (message) {
        own?.message(proc, message);
      }
    });
    proc.onExit((code, signal) => exited(slot, proc, code, signal));
  };

  const up = (slot: Slot): void => {
    slot.info = { ...slot.info, state: 'up' };
    if (listening) {
      hooks.log(`registry-router: worker ${slot.info.id} is back (pid ${slot.info.pid}, restart ${slot.info.restarts})`);
      return;
    }
    // Bun, Deno: the first worker's ports (an entry may ask for port 0) are the others' too.
    if (!options.accept && slot.info.id === 1) {
      const bound = slot.lines.map(parseListening);
      workerStart = { ...start, config: { ...config, listen: config.listen.map((entry, i) => ({ ...entry, port: bound[i]?.port ?? entry.port })) } };
      for (const other of slots.slice(1)) spawn(other);
    }
    if (slots.every((s) => s.info.state === 'up')) onAllUp();
  };

  const exited = (slot: Slot, proc: WorkerProcess, code: number | null, signal: string | null): void => {
    if (slot.proc !== proc) return;
    slot.proc = undefined;
    own?.exited(proc);
    slot.info = { ...slot.info, state: 'down', pid: null, lastExit: { at: new Date().toISOString(), code, signal } };
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (stopping) {
      if (slots.every((s) => !s.proc)) hooks.exit(0);
      return;
    }
    if (!listening) {
      // Failing before the router ever listened is the config's or the machine's fault: say so, stop.
      hooks.log(`registry-router: worker ${slot.info.id} exited with ${how} before listening; stopping`);
      for (const other of slots) other.proc?.kill('SIGKILL');
      hooks.exit(code && code > 0 ? code : 1);
    }
    slot.crashes = Date.now() - slot.bornAt < YOUNG_MS ? slot.crashes + 1 : 1;
    const delay = restartDelayMs(slot.crashes);
    hooks.log(`registry-router: worker ${slot.info.id} (pid ${proc.pid}) exited with ${how}; starting it again in ${delay / 1000} s`);
    slot.timer = setTimeout(() => {
      if (stopping) return;
      slot.info = { ...slot.info, restarts: slot.info.restarts + 1 };
      spawn(slot);
    }, delay);
  };

  /** Asks every worker that is up for an admin path; undefined for one that does not answer within 3 s. */
  const ask = (path: string): Promise<Array<{ status: number; body: string } | undefined>> =>
    Promise.all(
      slots.map((slot) => {
        const proc = slot.proc;
        if (!proc || slot.info.state !== 'up') return Promise.resolve(undefined);
        return new Promise<{ status: number; body: string } | undefined>((resolve) => {
          const n = nextQuestion++;
          const timer = setTimeout(() => {
            const at = pending.findIndex((p) => p.n === n);
            if (at >= 0) pending.splice(at, 1);
            resolve(undefined);
          }, 3000);
          pending.push({
            n,
            resolve: (answer) => {
              clearTimeout(timer);
              resolve(answer);
            },
          });
          try {
            proc.send({ t: 'admin', n, path } satisfies ToWorker);
          } catch {
            resolve(undefined);
          }
        });
      }),
    );
  const infos = () => slots.map((slot) => slot.info);
  const parsed = <T>(answers: Array<{ status: number; body: string } | undefined>): Array<T | undefined> =>
    answers.map((answer) => {
      try {
        return answer ? (JSON.parse(answer.body) as T) : undefined;
      } catch {
        return undefined;
      }
    });

  const adminFetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    // As the admin app of one process: GET (and HEAD) only, anything else is not found.
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(404, { status: 'not found', endpoints: ADMIN_ENDPOINTS });
    if (path === '/') return statusPageResponse();
    if (path === '/healthz') return json(200, { status: 'live', workers: slots.filter((s) => s.info.state === 'up').length });
    if (path === '/status.json') return json(200, mergeStatus(parsed<StatusSnapshot>(await ask(path)), infos(), Date.now()));
    if (path === '/readyz') {
      const answers = (await ask(path)).map((answer) => {
        try {
          return answer && { status: answer.status, body: JSON.parse(answer.body) as { problems?: string[]; sites?: unknown[] } };
        } catch {
          return undefined;
        }
      });
      const merged = mergeReadyz(answers, infos());
      return json(merged.status, merged.body);
    }
    if (path === '/metrics') {
      const answers = await ask(path);
      const statuses = mergeStatus(parsed<StatusSnapshot>(await ask('/status.json')), infos(), Date.now()).workers;
      return new Response(
        mergeMetrics(
          answers.flatMap((a) => (a ? [a.body] : [])),
          statuses satisfies WorkerStatus[],
        ),
        {
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' },
        },
      );
    }
    return json(404, { status: 'not found', endpoints: ADMIN_ENDPOINTS });
  };

  const sharing = options.sharing === 'handed' ? "each client's connections on one worker" : 'connections spread by the kernel (reusePort)';
  const describe = `${start.source}; ${count} workers, ${sharing}`;
  if (options.accept) {
    const accepting = await options.accept(route);
    own = accepting;
    workerStart = {
      ...start,
      config: { ...config, listen: config.listen.map((entry, i) => ({ ...entry, port: accepting.bound[i]?.port ?? entry.port })) },
    };
    for (const slot of slots) spawn(slot);
    await allUp;
    for (const bound of accepting.bound) hooks.log(listeningLine(bound.scheme, bound.host, bound.port, describe));
  } else {
    // The workers bind with reusePort, which would also let them join another router on the port.
    await claimListenAddresses(config.listen, hooks);
    spawn(slots[0]!);
    await allUp;
    for (const line of slots[0]!.lines) {
      const bound = parseListening(line);
      if (bound) hooks.log(listeningLine(bound.scheme, bound.host, bound.port, describe));
    }
  }
  listening = true;
  const admin = startAdminWith(config, adminFetch, options.admin, hooks);

  hooks.signals.on('SIGHUP', () => {
    hooks.log(`registry-router: SIGHUP, passed on to ${slots.filter((s) => s.proc).length} workers`);
    for (const slot of slots) slot.proc?.kill('SIGHUP');
  });
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    hooks.log(stoppingLine(signal, config));
    own?.close();
    admin?.stop();
    for (const slot of slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.proc?.kill('SIGTERM');
    }
    if (slots.every((s) => !s.proc)) hooks.exit(0);
    // Workers cut what is left after the grace period themselves; this is for one that hangs.
    const last = setTimeout(
      () => {
        for (const slot of slots) slot.proc?.kill('SIGKILL');
        hooks.exit(0);
      },
      config.timeouts.shutdownGrace * 1000 + 5000,
    );
    (last as { unref?: () => void }).unref?.();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) hooks.signals.once(signal, () => stop(signal));
}

/** The IPC side of a worker process: `process.send` and `process.on('message')` (Node, Bun and Deno alike). */
export interface WorkerChannel {
  send(message: FromWorker): void;
  onMessage(handler: (message: unknown, handle?: unknown) => void): void;
  /** The primary went away (killed): the worker drains and exits. */
  onDisconnect(handler: () => void): void;
}

/** Whether this process was started as a worker (`REGISTRY_ROUTER_WORKER` set by the primary). */
export const isWorkerProcess = (env: (name: string) => string | undefined): boolean => !!env(WORKER_ENV);

/**
 * A worker's life: waits for the primary's start, serves with `serve` (the runtime's, as for one
 * process), answers the primary's admin questions from its own admin app, and drains (SIGTERM to
 * itself) when the primary goes away.
 */
export function runWorker(channel: WorkerChannel, serve: (start: StartOptions) => void | Promise<void>, stopSelf: () => void): void {
  channel.onMessage((raw) => {
    const message = raw as ToWorker;
    if (message?.t === 'start') {
      becomeWorker(message.role);
      void serve(message.start);
    } else if (message?.t === 'admin') {
      const fetch = workerAdmin();
      const answer = async () => {
        if (!fetch) return channel.send({ t: 'admin', n: message.n, status: 404, body: '' });
        const response = await fetch(new Request(`http://worker${message.path}`));
        channel.send({ t: 'admin', n: message.n, status: response.status, body: await response.text() });
      };
      void answer().catch(() => channel.send({ t: 'admin', n: message.n, status: 500, body: '' }));
    }
  });
  channel.onDisconnect(stopSelf);
  channel.send({ t: 'hello' });
}

const json = (status: number, body: unknown): Response =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
  });
