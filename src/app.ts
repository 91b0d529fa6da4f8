import { Hono, type Context } from 'hono';
import type { AccessLog } from './access-log.ts';
import type { Config } from './config/schema.ts';
import { errorResponse, formatForPath } from './errors.ts';
import type { Exchange, UpstreamResponse } from './exchange.ts';
import { UpstreamError, type UpstreamClient } from './forward/client.ts';
import { tallyBody } from './passes/body-tally.ts';
import { applyIncoming } from './passes/incoming.ts';
import { buildOutgoing } from './passes/outgoing.ts';
import { compileSite, siteFinder, type Site } from './site/site.ts';

export interface AppOptions {
  client: UpstreamClient;
  log: AccessLog;
  /** The peer's address as the adapter knows it (socket, CF-Connecting-IP, …). */
  clientAddress?: (c: Context) => string | undefined;
}

/**
 * The whole router as a Fetch-API app: app → site → rule → upstream → outgoing passes → client →
 * incoming passes. Adapters only start a server around `app.fetch` and inject the client.
 */
export function createApp(config: Config, options: AppOptions): Hono {
  const findSite = siteFinder(config.sites.map(compileSite));
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
    const role = site.route(request.method, url.pathname, url.searchParams);
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

  return app;
}

async function forward(exchange: Exchange, { client, log }: AppOptions): Promise<Response> {
  const { site, request } = exchange;
  const finish = (status: number, error?: string) => log({ ...entryFor(exchange.url, request.method, exchange.startedAt, status, exchange.clientAddress, exchange), ...(error && { error }) });

  const declared = Number(request.headers.get('content-length') ?? 0);
  if (site.maxBodySize > 0 && declared > site.maxBodySize) {
    finish(413, 'body over limit');
    return unreadBody(request, tooLarge(site));
  }

  let upstreamResponse: UpstreamResponse;
  try {
    upstreamResponse = await client.send(buildOutgoing(exchange));
  } catch (error) {
    const response = failure(site, exchange, error);
    finish(response.status, String((error as Error)?.message ?? error));
    return unreadBody(request, response);
  }

  const response = applyIncoming(exchange, upstreamResponse);
  const status = response.status;
  // Logged when the client has the whole body (or the transfer broke), not when headers went out.
  const body = response.body
    ? tallyBody(response.body, (total) => (exchange.tally.bytesOut = total), 0, (error) =>
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
