/**
 * `registry-router serve` on Node's own servers (also `bun run src/node.ts` where it serves
 * through Bun's node:http, and `deno run src/node.ts`): one @hono/node-server per `listen` entry
 * (node:https for TLS ones, see listen.ts), the undici client, file access; signals, the admin
 * listener and draining through src/adapter/lifecycle.ts.
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders, type Server } from 'node:http';
import { serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { StartOptions } from '../../config/cli.ts';
import { pipeOf } from '../../forward/counted-body.ts';
import { reasonPhraseOf } from '../../forward/reason-phrase.ts';
import { HeaderFields, plainFields } from '../../header-fields.ts';
import { nodeFiles } from '../../local/node-files.ts';
import { appFor, requestClientOf } from '../app.ts';
import { listeningLine, runLifecycle, startAdmin, startListeners, type AdminStart, type ProcessHooks, type Serving } from '../lifecycle.ts';
import { nodeClient } from './client.ts';
import { withClientGone } from './client-gone.ts';
import { withIncomingBody } from './incoming-body.ts';
import { listen, type Listener } from './listen.ts';
import { processHooks } from './process.ts';

/** `registry-router serve`: the config is read and checked for this runtime already (src/cli/program.ts). */
export function serveNode({ config, source }: StartOptions, hooks: ProcessHooks = processHooks): void {
  const app = appFor(config, {
    client: nodeClient(config.timeouts),
    files: nodeFiles,
    clientAddress: (c) => getConnInfo(c).remote.address,
    secret: (name) => process.env[name],
  });

  // The client's address as the Hono route finds it (getConnInfo: the socket's peer, after a PROXY header), then realIp.
  const requestClient = requestClientOf(config);
  /**
   * @hono/node-server writes only the status code; Node then keeps a `statusMessage` set before
   * that. The phrase comes from a side table: reading `response.statusText` would turn the
   * lightweight Response into a full one and lose the server's one-write path for small answers.
   */
  const withReasonPhrase = async (
    request: Request,
    env: { incoming?: { rawHeaders: string[]; errored: Error | null; socket: { remoteAddress?: string } }; outgoing?: { statusMessage: string } },
  ): Promise<Response> => {
    if (env.incoming) withRawFields(request, env.incoming.rawHeaders);
    // node-server's body copies each chunk into a second queue (incoming-body.ts); not HTTP/2's requests.
    if (env.incoming instanceof IncomingMessage && request.method !== 'GET' && request.method !== 'HEAD') withIncomingBody(request, env.incoming);
    // A plain object aborted by the answer's 'close' instead of node-server's AbortController (client-gone.ts).
    if (env.incoming && env.outgoing instanceof ServerResponse) withClientGone(request, { incoming: env.incoming, outgoing: env.outgoing });
    // The router's handler without Hono's dispatch (RouterApp.answer); the admin listener keeps Hono.
    const response = env.incoming
      ? await app.answer(request, { client: requestClient(request, env.incoming.socket.remoteAddress) })
      : await app.fetch(request, env);
    const phrase = reasonPhraseOf(response);
    if (env.outgoing instanceof ServerResponse && pipedToNode(request, response, env.outgoing, phrase)) return RESPONSE_ALREADY_SENT;
    if (phrase && env.outgoing) env.outgoing.statusMessage = phrase;
    // Fields given as a plain object get no Content-Type from node-server (and reading `headers` would build a Headers of them).
    if (env.outgoing && !plainFields(response) && !response.headers.has('content-type')) withoutDefaultType(env.outgoing as ServerResponse);
    return response;
  };
  const listeners: Listener[] = startListeners(
    () =>
      config.listen.map((entry, i) =>
        listen(
          entry,
          withReasonPhrase,
          (listener, info) => hooks.log(listeningLine(listener.scheme, info.address, info.port, source)),
          hooks.log,
          config.timeouts.header,
          `listen[${i}]`,
        ),
      ),
    hooks,
  );
  // Node says a busy address after listen() returned; the message carries the hint already (listen.ts).
  for (const { server, entry } of listeners) {
    server.once('error', (error) => {
      hooks.log(`registry-router: cannot listen on ${entry.host}:${entry.port}: ${error.message}`);
      hooks.exit(1);
    });
  }

  runLifecycle({ config, app, serving: nodeServing(listeners, hooks), admin: startAdmin(config, app, nodeAdmin, hooks), hooks });
}

/** The admin listener on @hono/node-server; a busy port is an 'error' event after `serve` returned. */
const nodeAdmin: AdminStart = ({ host, port, fetch }, listening, failed) => {
  const server = serve({ fetch, hostname: host, port }, (info) => listening(info.address, info.port)) as Server;
  server.once('error', failed);
  return { stop: () => void server.close() };
};

/** Node's listeners under the lifecycle: certificates swapped in place; keep-alive connections closed as they go idle. */
function nodeServing(listeners: readonly Listener[], hooks: ProcessHooks): Serving {
  return {
    reload() {
      for (const listener of listeners) {
        if (listener.scheme !== 'https') continue;
        const where = `${listener.entry.host}:${listener.entry.port}`;
        try {
          listener.reload();
          hooks.log(`registry-router: SIGHUP, reloaded the certificates of ${where}`);
        } catch (error) {
          hooks.log(`registry-router: SIGHUP, kept the old certificates of ${where}: ${(error as Error).message}`);
        }
      }
    },
    drain() {
      const closed = Promise.all(listeners.map(({ server }) => new Promise<void>((done) => server.close(() => done()))));
      // Keep-alive connections go idle one by one as their last response ends; close each then.
      setInterval(() => {
        for (const { server } of listeners) server.closeIdleConnections();
      }, 100).unref();
      return closed;
    },
    cut() {
      for (const { server } of listeners) server.closeAllConnections();
    },
  };
}

/**
 * A streamed upstream answer whose client can write to a Node writable (the undici client, see
 * forward/counted-body.ts) goes out on Node streams: the head written here, the body piped by the
 * client with backpressure, counted, ended and aborted both ways as on the web path, and the
 * server told RESPONSE_ALREADY_SENT. Through node-server's web stream instead, every chunk crosses
 * two queues and several promise hops. Routing stays on the Fetch API. `false`: not such an
 * answer (or its body was replaced by a body pass); node-server sends it.
 */
function pipedToNode(request: Request, response: Response, outgoing: ServerResponse, phrase: string | undefined): boolean {
  const piped = pipeOf(request.signal);
  // Reading `body` builds node-server's full Response: only for an answer that was streamed.
  if (!piped || response.body !== piped.body) return false;
  const headers: OutgoingHttpHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  if (phrase) outgoing.writeHead(response.status, phrase, headers);
  else outgoing.writeHead(response.status, headers);
  piped.pipe(outgoing);
  return true;
}

/**
 * The request's fields as a HeaderFields read once from node:http's `rawHeaders`: node-server's
 * lightweight headers answer `get` from them too, but build a Fetch `Headers` (an append per field,
 * sorted again on each walk) the first time they are walked, and the guard and the outgoing passes
 * walk them on every request. A request whose body is read later still gets a full Request built
 * from these fields.
 */
function withRawFields(request: Request, raw: readonly string[]): void {
  Object.defineProperty(request, 'headers', { value: HeaderFields.fromRaw(raw), configurable: true, enumerable: true });
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
