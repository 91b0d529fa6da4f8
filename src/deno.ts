/**
 * Deno adapter: `deno run --allow-net --allow-read --allow-env src/deno.ts --config router.json`.
 * One Deno.serve per `listen` entry (TLS ones with their one certificate), src/forward/deno-client.ts
 * as the upstream client (uploads through node:http, the rest through fetch), graceful shutdown on
 * SIGTERM/SIGINT. On SIGHUP each TLS listener re-reads its
 * files and is replaced: a new Deno.serve on the same address (reusePort, Linux) with the new
 * certificate, then the old one's shutdown() stops accepting and lets requests in flight finish.
 * reusePort on a TLS listener is unstable in Deno 2: the repo's deno.json turns on `unstable: ["net"]`
 * (Deno finds it from the script's folder); without it Deno exits at start asking for `--unstable-net`.
 * It also turns on `no-legacy-abort`: otherwise Deno.serve aborts `request.signal` after every
 * answer, building a DOMException each time (~6% of a small request's CPU); the router only needs
 * the signal for clients that go away. Started elsewhere, pass `--unstable-net --unstable-no-legacy-abort`.
 */
import { runCli } from './cli/program.ts';
import type { StartOptions } from './config/cli.ts';
import type { ClientTimeouts } from './forward/client.ts';
import type { ListenEntry } from './config/serving.ts';
import type { PemPair } from './config/tls-files.ts';
import { denoClient } from './forward/deno-client.ts';
import { Listeners } from './listeners.ts';
import { nodeFiles } from './local/node-files.ts';
import { refuseEarly } from './request/guard.ts';
import { adminLine, appFor, listeningLine, stoppingLine, type SocketEnv } from './start.ts';

/** The little of Deno's API used here (tsc runs with Node's types; `deno check` knows the real ones). */
interface NetAddr {
  hostname: string;
  port: number;
}
interface DenoServer {
  readonly addr: NetAddr;
  shutdown(): Promise<void>;
}
declare const Deno: {
  args: string[];
  cwd(): string;
  env: { get(name: string): string | undefined };
  readTextFileSync(path: string): string;
  serve(
    options: { hostname: string; port: number; reusePort?: boolean; cert?: string; key?: string; onListen(addr: NetAddr): void },
    handler: (request: Request, info: { remoteAddr: NetAddr }) => Response | Promise<Response>,
  ): DenoServer;
  addSignalListener(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', handler: () => void): void;
  exit(code: number): never;
};

// Not Deno's fetch alone: it sends every streamed upload chunked, dropping its Content-Length (see deno-client.ts).
const upstreamClient = (timeouts: ClientTimeouts) => denoClient(timeouts);

await runCli({
  runtime: 'deno',
  argv: Deno.args,
  env: (name) => Deno.env.get(name),
  readText: (path) => Deno.readTextFileSync(path),
  cwd: () => Deno.cwd(),
  client: upstreamClient,
  serve: serveDeno,
  exit: (code) => Deno.exit(code),
});

/** `registry-router serve` on Deno.serve: the config is read and checked for Deno already (src/cli/program.ts). */
function serveDeno({ config, source }: StartOptions): void {

  const app = appFor(config, { client: upstreamClient(config.timeouts), files: nodeFiles, secret: (name) => Deno.env.get(name) });

  const readText = (path: string) => Deno.readTextFileSync(path);
  let starting = true;

  /** `pairs` holds at most one certificate (features.ts refuses more for Deno). `onListen` prints the startup line; replacements stay quiet. */
  const serve = (entry: ListenEntry, port: number, pairs: PemPair[], onListen: (addr: NetAddr) => void): DenoServer =>
    Deno.serve(
      {
        hostname: entry.host,
        port,
        // TLS listeners share their address with their SIGHUP replacement while the old one drains.
        ...(pairs[0] && { reusePort: true, cert: pairs[0].cert, key: pairs[0].key }),
        onListen,
      },
      // A Host list (`a, b`, which hyper lets through) makes request.url unparsable: 400 before the app parses it.
      (request, info) => refuseEarly(request) ?? app.fetch(request, { clientAddress: info.remoteAddr.hostname } satisfies SocketEnv),
    );

  let listeners: Listeners<DenoServer>;
  try {
    listeners = new Listeners(config.listen, {
      // Only the first start of each entry prints the startup line; SIGHUP replacements stay quiet.
      start: (entry, port, pairs) =>
        serve(entry, port, pairs, starting ? (addr) => console.error(listeningLine(entry.certs.length ? 'https' : 'http', addr.hostname, addr.port, source)) : () => {}),
      port: (server) => server.addr.port,
      drain: (server) => server.shutdown(),
      readText,
      log: (line) => console.error(line),
    });
  } catch (error) {
    console.error(String((error as Error).message));
    Deno.exit(2);
  }
  starting = false;

  // /metrics, /healthz, /readyz on their own listener (loopback unless configured), never behind a site's Host.
  const admin = config.admin
    ? Deno.serve({ hostname: config.admin.host, port: config.admin.port, onListen: (addr) => console.error(adminLine(addr.hostname, addr.port)) }, (request) => app.admin.fetch(request))
    : undefined;

  // New certificates (e.g. after `npm run certs`) for new connections; connections in flight keep theirs.
  Deno.addSignalListener('SIGHUP', () => listeners.reload());

  let stopping = false;
  function shutdown(signal: string): void {
    if (stopping) return;
    stopping = true;
    console.error(stoppingLine(signal, config));
    app.stop();
    void admin?.shutdown();
    void listeners.stop().then(() => Deno.exit(0));
    setTimeout(() => Deno.exit(0), config.timeouts.shutdownGrace * 1000);
  }
  Deno.addSignalListener('SIGTERM', () => shutdown('SIGTERM'));
  Deno.addSignalListener('SIGINT', () => shutdown('SIGINT'));
}
