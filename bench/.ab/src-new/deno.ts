/**
 * Deno adapter: `deno run --allow-net --allow-read --allow-env src/deno.ts --config router.json`.
 * One Deno.serve per `listen` entry (TLS ones with their one certificate, read at start only),
 * Deno's fetch as the upstream client, graceful shutdown on SIGTERM/SIGINT.
 */
import { configFromArgs } from './config/cli.ts';
import { checkFeaturesFor } from './config/features.ts';
import { fetchClient } from './forward/fetch-client.ts';
import { nodeFiles } from './local/node-files.ts';
import { adminLine, appFor, listeningLine, stoppingLine, type SocketEnv } from './start.ts';

/** The little of Deno's API used here (tsc runs with Node's types; `deno check` knows the real ones). */
interface NetAddr {
  hostname: string;
  port: number;
}
declare const Deno: {
  args: string[];
  env: { get(name: string): string | undefined };
  readTextFileSync(path: string): string;
  createHttpClient(options: { allowHost?: boolean }): object;
  serve(
    options: { hostname: string; port: number; cert?: string; key?: string; onListen(addr: NetAddr): void },
    handler: (request: Request, info: { remoteAddr: NetAddr }) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code: number): never;
};

let start;
try {
  start = configFromArgs(Deno.args, (name) => Deno.env.get(name), (path) => Deno.readTextFileSync(path));
  checkFeaturesFor('deno', start.config);
} catch (error) {
  console.error(String((error as Error).message));
  Deno.exit(2);
}
const { config, source } = start;

const client = fetchClient(config.timeouts, {
  // Deno's fetch replaces a caller's Host with the URL's unless the client allows it.
  init: { client: Deno.createHttpClient({ allowHost: true }) },
  // It also decodes gzip/br (keeping Content-Encoding/Length) unless the request asks for identity.
  acceptEncoding: 'identity',
});
const app = appFor(config, { client, files: nodeFiles });

const servers = config.listen.map((entry) => {
  const pair = entry.certs[0];
  return Deno.serve(
    {
      hostname: entry.host,
      port: entry.port,
      ...(pair && { cert: Deno.readTextFileSync(pair.cert), key: Deno.readTextFileSync(pair.key) }),
      onListen: (addr) => console.error(listeningLine(pair ? 'https' : 'http', addr.hostname, addr.port, source)),
    },
    (request, info) => app.fetch(request, { clientAddress: info.remoteAddr.hostname } satisfies SocketEnv),
  );
});

// /metrics, /healthz, /readyz on their own listener (loopback unless configured), never behind a site's Host.
const admin = config.admin
  ? Deno.serve({ hostname: config.admin.host, port: config.admin.port, onListen: (addr) => console.error(adminLine(addr.hostname, addr.port)) }, (request) => app.admin.fetch(request))
  : undefined;

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  console.error(stoppingLine(signal, config));
  app.stop();
  void admin?.shutdown();
  // shutdown() stops accepting and resolves once the requests in flight have been answered.
  void Promise.all(servers.map((server) => server.shutdown())).then(() => Deno.exit(0));
  setTimeout(() => Deno.exit(0), config.timeouts.shutdownGrace * 1000);
}
Deno.addSignalListener('SIGTERM', () => shutdown('SIGTERM'));
Deno.addSignalListener('SIGINT', () => shutdown('SIGINT'));
