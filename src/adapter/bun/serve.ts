/**
 * `registry-router serve` on Bun.serve, for both Bun entries: `bun run src/bun.ts` and
 * `bun run src/node.ts` (whose entry imports this module only when `process.versions.bun` is set,
 * so Node never evaluates it). One Bun.serve per `listen` entry (TLS ones with their certificates,
 * picked by SNI), Bun's fetch as the upstream client; signals, the admin listener and draining
 * through src/adapter/lifecycle.ts. On SIGHUP each TLS listener re-reads its files and is
 * replaced: a new Bun.serve on the same address (reusePort) with the new certificates, then the
 * old one stops accepting and finishes its requests in flight (`server.reload({ tls })` does not
 * swap them; see src/adapter/listeners.ts).
 */
import { readFileSync } from 'node:fs';
import type { StartOptions } from '../../config/cli.ts';
import type { ListenEntry } from '../../config/serving.ts';
import type { PemPair } from '../../config/tls-files.ts';
import { pipeNatively, type NativePipe } from '../../forward/native-pipe.ts';
import { nodeFiles } from '../../local/node-files.ts';
import { appFor, requestClientOf } from '../app.ts';
import { listeningLine, runLifecycle, startAdmin, startListeners, type AdminStart, type ProcessHooks } from '../lifecycle.ts';
import { Listeners } from '../listeners.ts';
import { NOT_FROM_FRONT, notFromFrontResponse, peerBehindFront, withProxyFronts } from '../proxy-front.ts';
import { workerRole } from '../workers-role.ts';
import { processHooks } from '../node/process.ts';
import { bunClient } from './client.ts';
import type { BunApi, BunServer, BunTls } from './types.ts';

declare const Bun: BunApi;

/** Every certificate once per DNS name it covers (Bun matches `serverName` to SNI); the first is the default. */
const tlsOf = (pairs: PemPair[]): BunTls[] =>
  pairs.flatMap(({ cert, key, dnsNames }, i) => [...(i === 0 ? [{ cert, key }] : []), ...dnsNames.map((serverName) => ({ cert, key, serverName }))]);

/**
 * Starts the router on Bun.serve and returns once every listener listens; the process then lives
 * on its servers until SIGTERM/SIGINT (drain, exit 0). `config` is read and checked for the
 * runtime already (src/cli/program.ts). A certificate that cannot be used, or an address already
 * in use, ends the process with exit code 2 and the reason on stderr. Must run under Bun.
 */
export function serveBun({ config, source }: StartOptions, hooks: ProcessHooks = processHooks): void {
  // Bun's Headers are native: a request's copied in one call and taken by its fetch as they are (passes/outgoing.ts).
  const app = appFor(config, { client: bunClient(config.timeouts), files: nodeFiles, secret: (name) => process.env[name], nativeRequestFields: true });
  const readText = (path: string) => readFileSync(path, 'utf8');
  const requestClient = requestClientOf(config);

  // Bun's idle timer (max 255 s, default 10 s) also runs while a handler waits, and would cut a push
  // whose last PUT makes the registry hash a large layer. It is off while the upstream works (the
  // core's idle timer enforces timeouts.idle there, both ways) and guards keep-alive sockets again
  // once the answer is out (see `answered` below).
  const keepAlive = Math.min(config.timeouts.idle, 255);
  const serve = (entry: ListenEntry, port: number, pairs: PemPair[]): BunServer =>
    Bun.serve({
      hostname: entry.host,
      port,
      // Bun 1.4.5 turns reusePort on by itself outside development mode: then any other process asking for it
      // could join this port. Off, unless one of the two cases below needs it.
      reusePort: false,
      // TLS listeners share their address with their SIGHUP replacement while the old one drains.
      ...(pairs.length && { reusePort: true, tls: tlsOf(pairs) }),
      // A worker of several shares every listener with the others (src/adapter/workers.ts).
      ...(workerRole() && { reusePort: true }),
      idleTimeout: keepAlive,
      // Bun's 128 MiB default would refuse docker layers; sites set their own caps (413 in registry JSON).
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      // Bun.serve is in development mode unless NODE_ENV=production (a service manager rarely sets
      // it): a handler's error would then reach the client as a 50 KB HTML page with its message.
      development: false,
      // Not async: the app's promise is handed back as it is (an async handler would wrap it in one more).
      fetch(request, server) {
        server.timeout(request, 0);
        // Bun's per-request timer is not re-armed by the writes of a streamed answer (measured on
        // 1.4.5: a 10-piece body over 5 s is cut at 4 s with a 2 s timer, whether set here or by
        // idleTimeout), so it stays off while the core works and streams, and the core's idle
        // timer alone cuts a stalled upstream. Left off, a keep-alive connection would never be
        // closed by the server; armed after the answer is out, it is ignored. So it is re-armed
        // when the core writes the access-log line: at once for what the router answers whole or
        // from a local file, as the last byte is handed over for what it streams from an upstream.
        // (A static download slower than the timer is still cut: a limit of local files on Bun.)
        // An answer Bun pipes natively (forward/native-pipe.ts) is logged as its headers go out, and
        // Bun's timer cuts such a transfer too: it is re-armed only at the body's deadline, when the
        // transfer is over one way or the other.
        const pipe: NativePipe | undefined = config.nativePipe && { ...config.nativePipe };
        if (pipe) pipeNatively(request, pipe);
        let armed = false;
        const answered = () => {
          if (armed) return;
          armed = true;
          if (pipe?.deadlineMs === undefined) server.timeout(request, keepAlive);
          else setTimeout(() => server.timeout(request, keepAlive), pipe.deadlineMs + keepAlive * 1000).unref();
        };
        const peer = server.requestIP(request);
        const clientAddress = peerBehindFront(entry, peer?.address, peer?.port);
        if (clientAddress === NOT_FROM_FRONT) return notFromFrontResponse();
        // The router's handler without Hono's dispatch (RouterApp.answer); the admin listener keeps Hono.
        return app.answer(request, { client: requestClient(request, clientAddress), answered });
      },
    });

  const listeners = startListeners(
    () =>
      new Listeners(
        config.listen,
        withProxyFronts(
          {
            start: serve,
            port: (server) => server.port,
            // Without `true`, stop() closes the listening socket at once and resolves when requests in flight have finished.
            drain: (server) => server.stop(),
            readText,
            log: hooks.log,
          },
          hooks,
          source,
          config.timeouts.header,
        ),
      ),
    hooks,
  );
  for (const [i, server] of listeners.servers.entries()) {
    // A PROXY protocol listener's front prints its line (proxy-front.ts).
    if (config.listen[i]?.proxyProtocol) continue;
    hooks.log(listeningLine(config.listen[i]?.certs.length ? 'https' : 'http', server.hostname, server.port, source));
  }

  runLifecycle({
    config,
    app,
    serving: { reload: () => listeners.reload(), drain: () => listeners.stop() },
    admin: startAdmin(config, app, bunAdmin, hooks),
    hooks,
  });
}

/** The admin listener on Bun.serve, which throws at once when it cannot listen. */
const bunAdmin: AdminStart = ({ host, port, fetch }, listening) => {
  const server = Bun.serve({ hostname: host, port, idleTimeout: 10, maxRequestBodySize: 64 * 1024, development: false, fetch: (request) => fetch(request) });
  listening(server.hostname, server.port);
  return { stop: () => void server.stop(true) };
};
