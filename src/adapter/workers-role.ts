/**
 * This process's part when the router runs as several worker processes (`"workers"` > 1, see
 * src/adapter/workers.ts): undefined in the primary and in a router of one process; set in a
 * worker once the primary has sent it its start. The adapters ask it where a worker does
 * something else than a lone router: no admin listener of its own (the primary asks over IPC),
 * listeners shared with the other workers (reusePort, or connections handed over on Node), and its
 * "listening on" lines go to the primary, which prints one set for the whole router.
 */

/** The environment variable that makes a started process a worker: its slot, 1…N. */
export const WORKER_ENV = 'REGISTRY_ROUTER_WORKER';

export interface WorkerRole {
  /** 1…N, the slot it fills (a restarted worker keeps its slot's id). */
  id: number;
  count: number;
  /** Node: connections come from the primary (`'conn'` messages); Bun, Deno: each worker listens with reusePort. */
  sharing: 'handed' | 'reusePort';
}

let role: WorkerRole | undefined;
let adminFetch: ((request: Request) => Response | Promise<Response>) | undefined;
const connectionHandlers = new Map<string, (socket: unknown) => void>();

/** This process's worker role; undefined in the primary and in a router of one process. */
export const workerRole = (): WorkerRole | undefined => role;

/** Set by the worker's entry before it serves. */
export function becomeWorker(next: WorkerRole): void {
  role = next;
}

/** The worker's admin app, which answers the primary's questions (`/status.json`, `/metrics`, `/readyz`). */
export function setWorkerAdmin(fetch: (request: Request) => Response | Promise<Response>): void {
  adminFetch = fetch;
}

export const workerAdmin = () => adminFetch;

/** Node: where connections the primary hands over for the listener at `key` (`host:port` as configured) go. */
export function onHandedConnection(key: string, handler: (socket: unknown) => void): void {
  connectionHandlers.set(key, handler);
}

export const handedConnectionHandler = (key: string) => connectionHandlers.get(key);

/** The key of a listener in `'conn'` messages: its address as configured. */
export const listenerKey = (entry: { host: string; port: number }): string => `${entry.host}:${entry.port}`;

/** Said by every adapter per listener; in a worker, sent to the primary instead of printed. */
export const LISTENING_PREFIX = 'registry-router listening on ';

/**
 * A line on stderr from this process: in a worker, "listening on" lines go to the primary (which
 * prints the router's own), other lines name the worker (`registry-router: …` → `registry-router
 * worker 2: …`).
 */
export function logLine(line: string, write: (line: string) => void, send: (message: unknown) => void): void {
  if (!role) write(line);
  else if (line.startsWith(LISTENING_PREFIX)) send({ t: 'listening', line });
  else write(line.startsWith('registry-router: ') ? `registry-router worker ${role.id}: ${line.slice('registry-router: '.length)}` : line);
}
