import { Hono, type Context } from 'hono';
import type { AccessLog } from './access-log.ts';
import type { Config } from './config/schema.ts';
import { errorResponse, formatForPath } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { UpstreamError, type UpstreamClient } from './forward/client.ts';
import { tallyBody } from './passes/body-tally.ts';
import { applyIncoming } from './passes/incoming.ts';
import { createAdminApp } from './admin.ts';
import { Metrics } from './metrics.ts';
import { sendWithFailover } from './upstream/failover.ts';
import { startHealthChecks, stderrHealthLog } from './upstream/health.ts';
import type { HealthListener } from './upstream/pool.ts';
import type { FileAccess } from './local/files.ts';
import { compileLocal, type LocalHandler } from './local/local.ts';
import { compileSite, siteFinder, type Site } from './site/site.ts';

export interface AppOptions {
  client: UpstreamClient;
  log: AccessLog;
  /** The peer's address as the adapter knows it (socket, CF-Connecting-IP, …). */
  clientAddress?: (c: Context) => string | undefined;
  /** File access for `static` folders, the CA and the bootstrap script (local/node-files.ts on Node, Bun, Deno). */
  files?: FileAccess;
  /** Where upstream up/down changes go, one event each (default: a JSON line on stderr). */
  healthLog?: HealthListener;
}

/** The sites' app, plus the admin app (`/metrics`, `/healthz`, `/readyz`) for its own listener and `stop()` for the health-check timers. */
export type RouterApp = Hono & { readonly admin: Hono; stop(): void };

/**
 * The whole router as a Fetch-API app: app → site → rule → upstream → outgoing passes → client →
 * incoming passes. Adapters only start a server around `app.fetch` and inject the client.
 */
export function createApp(config: Config, appOptions: AppOptions): RouterApp {
  const sites = config.sites.map(compileSite);
  const metrics = new Metrics();
  const options: AppOptions = { ...appOptions, log: metrics.counting(appOptions.log) };
  for (const site of sites) for (const server of site.servers) server.onChange = options.healthLog ?? stderrHealthLog;
  const checks = startHealthChecks(sites, options.client);
  const findSite = siteFinder(sites);
  // What a site answers itself (bootstrap script, CA, HTTPS redirect, static folders), before any rule.
  const locals = new Map<Site, LocalHandler | undefined>(sites.map((site, i) => [site, compileLocal(config.sites[i]!, config, options.files)]));
  const app = new Hono();

  app.all('*', async (c) => {
    const request = c.req.raw;
    const url = new URL(request.url);
    const started = Date.now();
    const site = findSite(url.host);
    if (!site) {
      const response = errorResponse(formatForPath(url.pathname), 421, 'UNSUPPORTED', `this router serves no site named ${url.host}`);
      options.log(entryFor(url, request.method, started, response.status, options.clientAddress?.(c) ?? '', null));
      return response;
    }
    const local = locals.get(site);
    if (local) {
      const answered = await answerLocally(local, site, request, url, started, options.clientAddress?.(c) ?? '', options.log);
      if (answered) return answered;
    }
    const role = site.route(request.method, url.pathname, url.searchParams);
    if (role === 'deny') {
      const response = errorResponse(site.errorFormat, 405, 'DENIED', `site ${site.name} does not accept ${request.method} ${url.pathname}`);
      options.log({ ...entryFor(url, request.method, started, response.status, options.clientAddress?.(c) ?? '', null), site: site.name, role });
      return unreadBody(request, response);
    }
    const exchange: Exchange = {
      request,
      url,
      clientAddress: options.clientAddress?.(c) ?? '',
      site,
      role,
      upstream: site.upstreams[role],
      startedAt: started,
      tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
    };
    return forward(exchange, options);
  });

  return Object.assign(app, { admin: createAdminApp(sites, metrics), stop: () => checks.stop() });
}

async function answerLocally(local: LocalHandler, site: Site, request: Request, url: URL, started: number, client: string, log: AccessLog): Promise<Response | undefined> {
  let answer;
  try {
    answer = await local(request, url);
  } catch (error) {
    const response = errorResponse(site.errorFormat, 500, 'UNAVAILABLE', `site ${site.name} could not read a local file`);
    log({ ...entryFor(url, request.method, started, 500, client, null), site: site.name, role: 'static', error: String((error as Error)?.message ?? error) });
    return unreadBody(request, response);
  }
  if (!answer) return undefined;
  const { response, role } = answer;
  const bytesOut = response.body ? Number(response.headers.get('content-length') ?? 0) : 0;
  log({ ...entryFor(url, request.method, started, response.status, client, null), site: site.name, role, bytesOut });
  return unreadBody(request, response);
}

async function forward(exchange: Exchange, { client, log }: AppOptions): Promise<Response> {
  const { site, request } = exchange;
  // The exchange as sent: its upstream is the server that answered (see upstream/failover.ts).
  let sent = exchange;
  let release = () => {};
  const finish = (status: number, error?: string) => {
    release();
    log({ ...entryFor(sent.url, request.method, sent.startedAt, status, sent.clientAddress, sent), ...(error && { error }) });
  };

  const declared = Number(request.headers.get('content-length') ?? 0);
  if (site.maxBodySize > 0 && declared > site.maxBodySize) {
    finish(413, 'body over limit');
    return unreadBody(request, tooLarge(site));
  }

  const outcome = await sendWithFailover(exchange, client);
  if (outcome.kind === 'refused') {
    // Answered by the router: no upstream saw it.
    log({ ...entryFor(exchange.url, request.method, exchange.startedAt, outcome.response.status, exchange.clientAddress, exchange), upstream: null, error: outcome.reason });
    return unreadBody(request, outcome.response);
  }
  sent = outcome.exchange;
  if (outcome.kind === 'failed') {
    const response = failure(site, sent, outcome.error);
    finish(response.status, String((outcome.error as Error)?.message ?? outcome.error));
    return unreadBody(request, response);
  }
  release = outcome.release;

  const response = applyIncoming(sent, outcome.response);
  const status = response.status;
  // Logged when the client has the whole body (or the transfer broke), not when headers went out.
  const body = response.body
    ? tallyBody(response.body, (total) => (sent.tally.bytesOut = total), 0, (error) =>
        finish(status, error ? `response body: ${String((error as Error)?.message ?? error)}` : undefined),
      )
    : null;
  if (!body) finish(status);
  return new Response(body, { status, headers: response.headers });
}

/**
 * We answer before reading the whole request body: say the connection closes, so a keep-alive
 * client does not send its next request on a socket that still carries the rest of this body.
 */
function unreadBody(request: Request, response: Response): Response {
  if (request.body && !request.bodyUsed) void request.body.cancel().catch(() => {});
  if (request.body) response.headers.set('connection', 'close');
  return response;
}

function tooLarge(site: Site): Response {
  return errorResponse(site.errorFormat, 413, 'SIZE_INVALID', `request body is larger than this site accepts (${site.maxBodySize} bytes)`);
}

function failure(site: Site, exchange: Exchange, error: unknown): Response {
  if (exchange.tally.bodyTooLarge) return tooLarge(site);
  if (error instanceof UpstreamError) {
    const status = error.kind === 'timeout' ? 504 : 502;
    return errorResponse(site.errorFormat, status, 'UNAVAILABLE', `${exchange.role} upstream of site ${site.name}: ${error.message}`);
  }
  if (exchange.request.signal.aborted) {
    // The client is gone; nobody reads this answer.
    return errorResponse(site.errorFormat, 499 as number, 'UNAVAILABLE', 'client closed the request');
  }
  return errorResponse(site.errorFormat, 502, 'UNAVAILABLE', `forwarding to the ${exchange.role} upstream of site ${site.name} failed`);
}

function entryFor(url: URL, method: string, started: number, status: number, client: string, exchange: Exchange | null) {
  return {
    time: new Date(started).toISOString(),
    site: exchange?.site.name ?? null,
    host: url.host,
    method,
    path: url.pathname,
    status,
    bytesIn: exchange?.tally.bytesIn ?? 0,
    bytesOut: exchange?.tally.bytesOut ?? 0,
    durationMs: Date.now() - started,
    role: exchange?.role ?? null,
    upstream: exchange?.upstream.href ?? null,
    client,
  };
}
