#!/usr/bin/env node
/**
 * Node adapter and the command line's entry (also runs as `bun run src/node.ts`, and bundled as
 * dist/node.mjs, the package's `registry-router` bin): `serve` starts one @hono/node-server per
 * `listen` entry (node:https for TLS ones), injects the upstream client and file access,
 * re-reads certificates on SIGHUP, and drains transfers in flight on SIGTERM/SIGINT. Under Bun,
 * `serve` is Bun.serve instead (src/bun-serve.ts, as `bun run src/bun.ts`): faster than Bun's
 * node:http emulation, and with SNI and certificate reload, which Bun's node:https lacks. The
 * other commands (`check`, `route`, `certs`, …) are src/cli/program.ts.
 */
import { readFileSync } from 'node:fs';
import type { OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { jsonLinesLog, quietLog } from './access-log.ts';
import { createApp } from './app.ts';
import { reasonPhraseOf } from './forward/reason-phrase.ts';
import { runCli } from './cli/program.ts';
import type { StartOptions } from './config/cli.ts';
import type { ClientTimeouts } from './forward/client.ts';
import { fetchClient } from './forward/fetch-client.ts';
import { undiciClient } from './forward/undici-client.ts';
import { nodeFiles } from './local/node-files.ts';
import { presets } from './rules/presets.ts';
import { addressInUseHint } from './listeners.ts';
import { listen, type Listener } from './node-listen.ts';
import { adminLine, listeningLine } from './start.ts';

// Bun's node:http emulation has no undici underneath; its own fetch passes bytes through with `decompress: false`.
const upstreamClient = (timeouts: ClientTimeouts) => (process.versions.bun ? fetchClient(timeouts, { init: { decompress: false } }) : undiciClient(timeouts));

await runCli({
  runtime: process.versions.bun ? 'bun-node' : 'node',
  argv: process.argv.slice(2),
  env: (name) => process.env[name],
  readText: (path) => readFileSync(path, 'utf8'),
  cwd: () => process.cwd(),
  client: upstreamClient,
  // Loaded only under Bun: Node never evaluates the Bun.serve module (esbuild bundles it lazily).
  serve: process.versions.bun ? serveOnBun : serveNode,
  exit: (code) => process.exit(code),
});

/**
 * `bun run src/node.ts serve`: Bun.serve (src/bun-serve.ts) is the faster server, but it always writes the
 * standard reason phrase. Where a site's clients show the phrase to their user (Maven, PyPI: Nexus's
 * `400 File already exists` is the only message twine and mvn print) and every listener is plain HTTP, the
 * Node adapter's own server runs instead (Bun's node:http keeps `statusMessage`). TLS listeners stay on
 * Bun.serve: Bun's node:https has neither SNI (`SNICallback` is ignored) nor `setSecureContext` (measured on
 * Bun 1.4.5), so it could serve one certificate and never reload it.
 */
async function serveOnBun(start: StartOptions): Promise<void> {
  const server = bunServerFor(start.config);
  if (server.kind === 'node:http') {
    console.error(`registry-router on Bun: serving through node:http, ${server.why}`);
    return serveNode(start);
  }
  if (server.why) console.error(`registry-router on Bun: serving through Bun.serve, ${server.why}`);
  return (await import('./bun-serve.ts')).serveBun(start);
}

/**
 * Which server `bun run src/node.ts` uses for `config`, and why (a sentence for the log, empty when nothing
 * is lost): `node:http` when a site's format shows reason phrases (presets' `showsReasonPhrase`) and no
 * listener is TLS; `Bun.serve` otherwise.
 */
export function bunServerFor(config: StartOptions['config']): { kind: 'node:http' | 'Bun.serve'; why: string } {
  const showing = config.sites.filter((site) => presets[site.preset].showsReasonPhrase).map((site) => site.name);
  if (showing.length === 0) return { kind: 'Bun.serve', why: '' };
  const sites = `site${showing.length > 1 ? 's' : ''} ${showing.join(', ')}`;
  if (config.listen.some((entry) => entry.certs.length > 0)) {
    return {
      kind: 'Bun.serve',
      why: `which sends the standard reason phrase: the clients of ${sites} will not see Nexus's own (e.g. "File already exists"); Bun's node:https cannot serve several certificates or reload them, so TLS listeners stay here — run Node (node dist/node.mjs) to keep the phrase behind TLS`,
    };
  }
  return { kind: 'node:http', why: `which keeps the upstream's reason phrase that the clients of ${sites} show` };
}

/** `registry-router serve`: the config is read and checked for this runtime already (src/cli/program.ts). */
function serveNode({ config, source }: StartOptions): void {
  const client = upstreamClient(config.timeouts);

  const app = createApp(config, {
    client,
    log: config.accessLog ? jsonLinesLog : quietLog,
    clientAddress: (c) => getConnInfo(c).remote.address,
    files: nodeFiles,
    secret: (name) => process.env[name],
  });

  const warn = (line: string) => console.error(line);

  /**
   * @hono/node-server writes only the status code; Node then keeps a `statusMessage` set before
   * that. The phrase comes from a side table: reading `response.statusText` would turn the
   * lightweight Response into a full one and lose the server's one-write path for small answers.
   */
  const withReasonPhrase = async (request: Request, env: { outgoing?: { statusMessage: string } }): Promise<Response> => {
    const response = await app.fetch(request, env);
    const phrase = reasonPhraseOf(response);
    if (phrase && env.outgoing) env.outgoing.statusMessage = phrase;
    if (env.outgoing && !response.headers.has('content-type')) withoutDefaultType(env.outgoing as ServerResponse);
    return response;
  };
  let listeners: Listener[];
  try {
    listeners = config.listen.map((entry, i) =>
      listen(entry, withReasonPhrase, (listener, info) => console.error(listeningLine(listener.scheme, info.address, info.port, source)), warn, config.timeouts.header, `listen[${i}]`),
    );
  } catch (error) {
    console.error(String((error as Error).message));
    process.exit(2);
  }
  for (const { server, entry } of listeners) {
    server.once('error', (error) => {
      console.error(`registry-router: cannot listen on ${entry.host}:${entry.port}: ${error.message}`);
      process.exit(1);
    });
  }

  // /metrics, /healthz, /readyz on their own listener (loopback unless configured), never behind a site's Host.
  const admin = config.admin
    ? (serve({ fetch: app.admin.fetch, hostname: config.admin.host, port: config.admin.port }, (info) => console.error(adminLine(info.address, info.port))) as Server)
    : undefined;
  admin?.once('error', (error) => {
    const where = `${config.admin!.host}:${config.admin!.port}`;
    console.error(`registry-router: cannot listen on ${where} (admin): ${error.message}${addressInUseHint(error, where, 'admin')}`);
    process.exit(1);
  });

  // New certificates (e.g. after `npm run certs`) for new connections; connections in flight keep theirs.
  process.on('SIGHUP', () => {
    for (const listener of listeners) {
      if (listener.scheme !== 'https') continue;
      try {
        listener.reload();
        console.error(`registry-router: SIGHUP, reloaded the certificates of ${listener.entry.host}:${listener.entry.port}`);
      } catch (error) {
        console.error(`registry-router: SIGHUP, kept the old certificates of ${listener.entry.host}:${listener.entry.port}: ${(error as Error).message}`);
      }
    }
  });

  function shutdown(signal: string): void {
    console.error(`registry-router: ${signal}, finishing transfers in flight (up to ${config.timeouts.shutdownGrace} s)`);
    app.stop();
    admin?.close();
    let open = listeners.length;
    for (const { server } of listeners) server.close(() => --open === 0 && process.exit(0));
    // Keep-alive connections go idle one by one as their last response ends; close each then.
    setInterval(() => listeners.forEach(({ server }) => server.closeIdleConnections()), 100).unref();
    setTimeout(() => {
      listeners.forEach(({ server }) => server.closeAllConnections());
      process.exit(0);
    }, config.timeouts.shutdownGrace * 1000).unref();
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/**
 * @hono/node-server gives every answer with a body a Content-Type (`text/plain; charset=UTF-8`)
 * when it has none; the upstream's answer goes out as it came, so take that one out again on its
 * way to `writeHead` (a registry's 400 or 202 carries none).
 */
function withoutDefaultType(outgoing: ServerResponse): void {
  const writeHead = outgoing.writeHead;
  outgoing.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const headers = rest.at(-1);
    if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
      for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-type') delete (headers as OutgoingHttpHeaders)[name];
    }
    return (writeHead as (...args: unknown[]) => ServerResponse).call(this, status, ...rest);
  } as ServerResponse['writeHead'];
}
