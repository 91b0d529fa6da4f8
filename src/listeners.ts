/**
 * The listening side of a process whose runtime takes certificates as PEM text (Bun.serve,
 * Deno.serve): one server per `listen` entry; on SIGHUP a TLS listener is replaced by a new server
 * on the same address (reusePort) with the re-read files while the old one drains; on stop every
 * server, replaced ones included, drains. Runtime-agnostic: the adapter says how to start and
 * drain its servers. (Node swaps certificates in place: see node-listen.ts.)
 */
import type { ListenEntry } from './config/serving.ts';
import { readPemPairs, reloadTls, type PemPair } from './config/tls-files.ts';

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
    this.#servers = entries.map((entry) => ops.start(entry, entry.port, readPemPairs(entry, ops.readText)));
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
