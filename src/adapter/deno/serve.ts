/**
 * `registry-router serve` on Deno.serve: one per `listen` entry (TLS ones with their one
 * certificate), the Deno client (client.ts); signals, the admin listener and draining through
 * src/adapter/lifecycle.ts. On SIGHUP each TLS listener re-reads its files and is replaced: a new
 * Deno.serve on the same address (reusePort, Linux) with the new certificate, then the old one's
 * shutdown() stops accepting and lets requests in flight finish (src/adapter/listeners.ts).
 * reusePort on a TLS listener is unstable in Deno 2: the repo's deno.json turns on `unstable: ["net"]`
 * (Deno finds it from the script's folder); without it Deno exits at start asking for `--unstable-net`.
 * It also turns on `no-legacy-abort`: otherwise Deno.serve aborts `request.signal` after every
 * answer, building a DOMException each time (~6% of a small request's CPU); the router only needs
 * the signal for clients that go away. Started elsewhere, pass `--unstable-net --unstable-no-legacy-abort`.
 */
import type { StartOptions } from '../../config/cli.ts';
import type { ListenEntry } from '../../config/serving.ts';
import type { PemPair } from '../../config/tls-files.ts';
import { nodeFiles } from '../../local/node-files.ts';
import { appFor, requestClientOf } from '../app.ts';
import { listeningLine, runLifecycle, startAdmin, startListeners, type AdminStart, type ProcessHooks } from '../lifecycle.ts';
import { Listeners } from '../listeners.ts';
import { NOT_FROM_FRONT, notFromFrontResponse, peerBehindFront, withProxyFronts } from '../proxy-front.ts';
import { workerRole } from '../workers-role.ts';
import { denoClient } from './client.ts';
import { denoHooks } from './process.ts';
import type { DenoApi, DenoServer, NetAddr } from './types.ts';

declare const Deno: DenoApi;

/** `registry-router serve` on Deno.serve: the config is read and checked for Deno already (src/cli/program.ts). */
export function serveDeno({ config, source }: StartOptions, hooks: ProcessHooks = denoHooks): void {
  const app = appFor(config, { client: denoClient(config.timeouts), files: nodeFiles, secret: (name) => Deno.env.get(name) });
  const readText = (path: string) => Deno.readTextFileSync(path);
  const requestClient = requestClientOf(config);
  let starting = true;

  /** `pairs` holds at most one certificate (features.ts refuses more for Deno). `onListen` prints the startup line; replacements stay quiet. */
  const serve = (entry: ListenEntry, port: number, pairs: PemPair[], onListen: (addr: NetAddr) => void): DenoServer =>
    Deno.serve(
      {
        hostname: entry.host,
        port,
        // TLS listeners share their address with their SIGHUP replacement while the old one drains.
        ...(pairs[0] && { reusePort: true, cert: pairs[0].cert, key: pairs[0].key }),
        // A worker of several shares every listener with the others (src/adapter/workers.ts).
        ...(workerRole() && { reusePort: true }),
        onListen,
      },
      (request, info) => {
        // Read once: each read of `info.remoteAddr` goes through Deno's getters.
        const peer = info.remoteAddr;
        const clientAddress = peerBehindFront(entry, peer.hostname, peer.port);
        if (clientAddress === NOT_FROM_FRONT) return notFromFrontResponse();
        // The router's handler without Hono's dispatch (RouterApp.answer); the admin listener keeps Hono.
        // A Host list (`a, b`, which hyper lets through) makes request.url unparsable: answer() gives the guard's 400 then.
        return app.answer(request, { client: requestClient(request, clientAddress) });
      },
    );

  const listeners = startListeners(
    () =>
      new Listeners(
        config.listen,
        withProxyFronts(
          {
            // Only the first start of each entry prints the startup line; SIGHUP replacements stay quiet (and a PROXY front prints its own).
            start: (entry, port, pairs) =>
              serve(
                entry,
                port,
                pairs,
                starting && !entry.proxyProtocol
                  ? (addr) => hooks.log(listeningLine(entry.certs.length ? 'https' : 'http', addr.hostname, addr.port, source))
                  : () => {},
              ),
            port: (server) => server.addr.port,
            drain: (server) => server.shutdown(),
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
  starting = false;

  runLifecycle({
    config,
    app,
    serving: { reload: () => listeners.reload(), drain: () => listeners.stop() },
    admin: startAdmin(config, app, denoAdmin, hooks),
    hooks,
  });
}

/** The admin listener on Deno.serve, which throws at once when it cannot listen. */
const denoAdmin: AdminStart = ({ host, port, fetch }, listening) => {
  const server = Deno.serve({ hostname: host, port, onListen: (addr) => listening(addr.hostname, addr.port) }, (request) => fetch(request));
  return { stop: () => void server.shutdown() };
};
