/**
 * The listening side of a process whose runtime takes certificates as PEM text (Bun.serve,
 * Deno.serve): one server per `listen` entry; on SIGHUP a TLS listener is replaced by a new server
 * on the same address (reusePort) with the re-read files while the old one drains; on stop every
 * server, replaced ones included, drains. Runtime-agnostic: the adapter says how to start and
 * drain its servers. (Node swaps certificates in place: see node/listen.ts.)
 */
import type { ListenEntry } from '../config/serving.ts';
import { readPemPairs, reloadTls, type PemPair } from '../config/tls-files.ts';

/**
 * What to do about a listener that cannot bind because its address is taken (EADDRINUSE, on every
 * runtime), appended to the runtime's message; '' for other errors. `field` names where the port
 * is set: `listen[0]` (which `PORT` also sets), `listen[1]`, `admin`, or `listen` when the entry's
 * place is not known.
 */
export function addressInUseHint(error: unknown, where: string, field: string): string {
  if ((error as { code?: string } | null)?.code !== 'EADDRINUSE') return '';
  const port = where.slice(where.lastIndexOf(':') + 1);
  const setting =
    field === 'listen[0]'
      ? 'PORT=<port>, or "port" in listen[0] of the config'
      : field === 'admin'
        ? '"admin": { "port": … } in the config'
        : field === 'listen'
          ? 'PORT=<port> (the first listener\'s), or that listener\'s "port" in "listen" of the config'
          : `"port" in ${field} of the config`;
  return `; another process already listens on ${where} (\`ss -ltnp 'sport = :${port}'\` shows which): stop it, or give the router another port: ${setting}`;
}

/** `127.0.0.1:8080`, `[::1]:8080`. */
const addressOf = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

export interface ServerOps<S> {
  /** Starts a server for `entry` on `port`; `pairs` is empty for plain HTTP. */
  start(entry: ListenEntry, port: number, pairs: PemPair[]): S;
  /** The port a server got (entries may ask for port 0). */
  port(server: S): number;
  /** Stops accepting; resolves once the requests in flight have been answered. */
  drain(server: S): Promise<void>;
  readText(path: string): string;
  log(line: string): void;
}

export class Listeners<S> {
  #servers: S[];
  readonly #draining = new Set<Promise<void>>();
  #stopping = false;

  /** Throws (with a line naming the files) when a TLS entry's certificate cannot be used. */
  constructor(
    private readonly entries: readonly ListenEntry[],
    private readonly ops: ServerOps<S>,
  ) {
    this.#servers = entries.map((entry, i) => {
      const pairs = readPemPairs(entry, ops.readText);
      try {
        return ops.start(entry, entry.port, pairs);
      } catch (error) {
        const where = addressOf(entry.host, entry.port);
        const hint = addressInUseHint(error, where, `listen[${i}]`);
        if (!hint) throw error;
        throw new Error(`registry-router: cannot listen on ${where}: ${(error as Error).message}${hint}`, { cause: error });
      }
    });
  }

  get servers(): readonly S[] {
    return this.#servers;
  }

  /** New certificates for new connections; connections in flight keep theirs. */
  reload(): void {
    if (this.#stopping) return;
    this.#servers = this.#servers.map((old, i) => {
      const entry = this.entries[i]!;
      if (!entry.certs.length) return old;
      const port = this.ops.port(old);
      const next = reloadTls({ ...entry, port }, this.ops.readText, (pairs) => this.ops.start(entry, port, pairs), this.ops.log);
      if (next === undefined) return old;
      const done = this.ops.drain(old).catch(() => {});
      this.#draining.add(done);
      void done.then(() => this.#draining.delete(done));
      return next;
    });
  }

  /** Drains every server, replaced ones still finishing included. */
  stop(): Promise<unknown> {
    this.#stopping = true;
    return Promise.all([...this.#servers.map((server) => this.ops.drain(server).catch(() => {})), ...this.#draining]);
  }
}
