/**
 * The app as every adapter builds it: the core (src/app.ts) with the access log the config asks
 * for and the client address the runtime knows. Nothing here touches a runtime API.
 */
import type { Context } from 'hono';
import { jsonLinesLog, quietLog } from '../access-log.ts';
import { createApp, type AppOptions, type RouterApp } from '../app.ts';
import type { Config } from '../config/schema.ts';
import type { UpstreamClient } from '../forward/client.ts';
import type { FileAccess } from '../local/files.ts';
import { clientAddressFinder } from '../request/client-address.ts';

/**
 * What a caller of `app.fetch` may hand over as Hono's env: the peer's socket address. The Node, Bun
 * and Deno servers call `RouterApp.answer` instead (requestClientOf below); tests and the demo use this.
 */
export interface SocketEnv {
  clientAddress?: string;
  /** Called once the answer has gone out whole or broke off (when its access-log line is written). */
  answered?: () => void;
}

/**
 * The client of a request: the peer the adapter names (after a PROXY protocol header, where the
 * listener reads one), or the address a trusted proxy's header names (`realIp`, request/client-address.ts).
 */
function clientAddressOf(config: Config, peer: (c: Context) => string | undefined): (c: Context) => string | undefined {
  if (!config.realIp) return peer;
  const find = clientAddressFinder(config.realIp);
  return (c) => {
    const address = peer(c);
    return address === undefined ? undefined : find(address, c.req.raw.headers);
  };
}

/**
 * For adapters that call `RouterApp.answer` (no Hono Context): the client of `request` whose TCP
 * peer (after a PROXY protocol header) is `peer`, as clientAddressOf finds it; '' when unknown.
 */
export function requestClientOf(config: Config): (request: Request, peer: string | undefined) => string {
  if (!config.realIp) return (_request, peer) => peer ?? '';
  const find = clientAddressFinder(config.realIp);
  return (request, peer) => (peer === undefined ? '' : (find(peer, request.headers) ?? ''));
}

/** Makes the config's `sessions` real: set by the Node, Bun and Deno entries (see useSharedSessions). */
let sharedSessionsFor: ((config: Config) => AppOptions['sharedSessions']) | undefined;

/**
 * The Node, Bun and Deno entries hand over how the config's `sessions` becomes a store (Redis:
 * src/site/redis-sessions.ts). Registered there rather than imported here so that the worker's
 * bundle leaves ioredis (node:net, node:tls) out: at the edge, sessions live in Durable Objects.
 */
export function useSharedSessions(factory: (config: Config) => AppOptions['sharedSessions']): void {
  sharedSessionsFor = factory;
}

/**
 * The app with the access log the config asks for. The client address comes from `SocketEnv`
 * unless the adapter says otherwise (Node reads its socket, the worker CF-Connecting-IP).
 */
export function appFor(
  config: Config,
  options: {
    client: UpstreamClient;
    files?: FileAccess;
    clientAddress?: (c: Context) => string | undefined;
    secret?: (name: string) => string | undefined;
    sessionStore?: AppOptions['sessionStore'];
    sharedSessions?: AppOptions['sharedSessions'];
    /** See AppOptions.nativeRequestFields (set by the Bun adapter). */
    nativeRequestFields?: boolean;
  },
): RouterApp {
  const sharedSessions = options.sharedSessions ?? (options.sessionStore ? undefined : sharedSessionsFor?.(config));
  return createApp(config, {
    client: options.client,
    log: config.accessLog ? jsonLinesLog : quietLog,
    clientAddress: clientAddressOf(config, options.clientAddress ?? ((c) => (c.env as SocketEnv | undefined)?.clientAddress)),
    ...(options.files && { files: options.files }),
    ...(options.secret && { secret: options.secret }),
    ...(options.sessionStore && { sessionStore: options.sessionStore }),
    ...(sharedSessions && { sharedSessions }),
    ...(options.nativeRequestFields && { nativeRequestFields: true }),
  });
}
