/**
 * What every adapter does around its runtime's server, kept out of the adapters so they stay
 * about starting the runtime only. Nothing here touches a runtime API (no process, Bun, Deno).
 */
import type { Context } from 'hono';
import { jsonLinesLog, quietLog } from './access-log.ts';
import { ADMIN_ENDPOINTS } from './status/admin.ts';
import { createApp, type AppOptions, type RouterApp } from './app.ts';
import type { Config } from './config/schema.ts';
import type { UpstreamClient } from './forward/client.ts';
import type { FileAccess } from './local/files.ts';

/** What the Bun and Deno adapters hand to `app.fetch` as Hono's env: the peer's socket address. */
export interface SocketEnv {
  clientAddress?: string;
  /** Called once the answer has gone out whole or broke off (when its access-log line is written). */
  answered?: () => void;
}

/**
 * The app with the access log the config asks for. The client address comes from `SocketEnv`
 * unless the adapter says otherwise (the worker reads CF-Connecting-IP).
 */
export function appFor(
  config: Config,
  options: { client: UpstreamClient; files?: FileAccess; clientAddress?: (c: Context) => string | undefined; secret?: (name: string) => string | undefined; sessionStore?: AppOptions['sessionStore'] },
): RouterApp {
  return createApp(config, {
    client: options.client,
    log: config.accessLog ? jsonLinesLog : quietLog,
    clientAddress: options.clientAddress ?? ((c) => (c.env as SocketEnv | undefined)?.clientAddress),
    ...(options.files && { files: options.files }),
    ...(options.secret && { secret: options.secret }),
    ...(options.sessionStore && { sessionStore: options.sessionStore }),
  });
}

/** The startup line on stderr, one per listener (tests and supervisors wait for "listening on"). */
export const listeningLine = (scheme: 'http' | 'https', host: string, port: number, source: string): string =>
  `registry-router listening on ${scheme}://${host.includes(':') ? `[${host}]` : host}:${port} (${source})`;

/**
 * The admin listener's line on stderr (worded apart from "listening on", which supervisors wait for
 * per site listener): the status page's URL first, then every other endpoint it serves.
 */
export const adminLine = (host: string, port: number): string => {
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return `registry-router status page on ${base}/ (admin listener; also ${ADMIN_ENDPOINTS.filter((path) => path !== '/').join(', ')})`;
};

export const stoppingLine = (signal: string, config: Config): string =>
  `registry-router: ${signal}, finishing transfers in flight (up to ${config.timeouts.shutdownGrace} s)`;
