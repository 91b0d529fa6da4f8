import { Hono, type Context } from 'hono';
import { entryFor, type AccessEntry, type AccessLog } from './access-log.ts';
import { createAdminApp } from './admin.ts';
import type { Config } from './config/schema.ts';
import { answerEarly, errorResponse, formatForPath, ownBodyBytes, type RouterErrorCode } from './errors.ts';
import type { Exchange } from './exchange.ts';
import type { UpstreamClient } from './forward/client.ts';
import { forward } from './forward/forward.ts';
import { Metrics } from './metrics.ts';
import { startHealthChecks, stderrHealthLog } from './upstream/health.ts';
import type { HealthListener } from './upstream/pool.ts';
import type { FileAccess } from './local/files.ts';
import { compileAddressBootstrap, compileLocal, isAddress, type LocalHandler } from './local/local.ts';
import { guardRequest } from './request/guard.ts';
import { openUploadRequest, uploadSealFor } from './edge/uploads.ts';
import { unsafePath } from './request/target.ts';
import type { Role, Rule } from './rules/rule.ts';
import { PushSessions, type PushSession, type SessionStore } from './site/push-sessions.ts';
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
  /** Where push sessions live when not in this process (the edge: a Durable Object per session); `idleMs` from the site's config. */
  sessionStore?: (site: Site, idleMs: number) => SessionStore;
  /** Reads a secret from the environment (worker bindings, process env): the direct-uploads key. */
  secret?: (name: string) => string | undefined;
}

/** The sites' app, plus the admin app (`/metrics`, `/healthz`, `/readyz`) for its own listener and `stop()` for the health-check timers. */
export type RouterApp = Hono & { readonly admin: Hono; stop(): void };

/**
 * The whole router as a Fetch-API app: app → site → rule → upstream → outgoing passes → client →
 * incoming passes. Adapters only start a server around `app.fetch` and inject the client.
 */
export function createApp(config: Config, appOptions: AppOptions): RouterApp {
  const sites: Site[] = config.sites.map((siteConfig) => {
    const site = compileSite(siteConfig);
    const uploads = uploadSealFor(siteConfig, appOptions.secret ?? (() => undefined));
    const idleMs = siteConfig.pushSessions.idle * 1000;
    const sessions = idleMs > 0 && appOptions.sessionStore ? appOptions.sessionStore(site, idleMs) : site.sessions;
    return { ...site, sessions, ...(uploads && { uploads }) };
  });
  const metrics = new Metrics();
  const options: AppOptions = { ...appOptions, log: metrics.counting(appOptions.log) };
  for (const site of sites) for (const server of site.servers) server.onChange = options.healthLog ?? stderrHealthLog;
  const findSite = siteFinder(sites);
  // What a site answers itself (bootstrap script, CA, HTTPS redirect, static folders), before any rule.
  const locals = new Map<Site, LocalHandler | undefined>(sites.map((site, i) => [site, compileLocal(config.sites[i]!, config, options.files)]));
  const byAddress = compileAddressBootstrap(config, options.files);
  const app = new Hono();

  app.all('*', async (c) => {
    const request = c.req.raw;
    // The access-log moment is when the answer has gone out (or broke off): adapters that must act
    // then (Bun.serve re-arms its keep-alive timer) pass `answered` in the env.
    const onAnswered = (c.env as { answered?: () => void } | undefined)?.answered;
    const logged: AccessLog = onAnswered
      ? (entry) => {
          options.log(entry);
          onAnswered();
        }
      : options.log;
    let url = new URL(request.url);
    const started = Date.now();
    const client = options.clientAddress?.(c) ?? '';
    const refusal = guardRequest(request, url);
    if (refusal) return refuse(logged, request, url, started, client, null, refusal.status, 'UNSUPPORTED', refusal.message, { error: refusal.message });
    const site = findSite(url.host);
    if (!site) {
      // By IP, before the name resolves: the bootstrap script and CA of the first docker site.
      if (byAddress && isAddress(url.hostname)) {
        const answered = await answerLocally(byAddress.handler, sites[byAddress.index]!, request, url, started, client, logged);
        if (answered) return answered;
      }
      const served = config.sites.map((s) => `${s.name} (${s.hosts.join(', ')})`).join('; ');
      return refuse(logged, request, url, started, client, null, 421, 'UNSUPPORTED', `this router serves no site named ${url.host}; its sites serve: ${served}`, {}, false);
    }
    // Before static folders and rules: a hidden dot segment is refused whatever would serve it.
    const unsafe = unsafePath(url.pathname);
    if (unsafe) return refuse(logged, request, url, started, client, site, 400, 'NAME_INVALID', `${unsafe}: refused, it could reach outside the upstream's path prefix`, { error: unsafe });
    // The origin side of direct uploads answers nothing but uploads the edge sealed.
    let restoredAuthorization: string | null | undefined;
    if (site.uploads?.side === 'origin') {
      let opened;
      try {
        opened = await openUploadRequest(site.uploads, request.method, url);
      } catch (error) {
        opened = { status: 500 as const, message: String((error as Error).message) };
      }
      if ('status' in opened) {
        return refuse(logged, request, url, started, client, site, opened.status, opened.status === 401 ? 'UNAUTHORIZED' : 'DENIED', opened.message, { error: opened.message });
      }
      url = opened.url;
      restoredAuthorization = opened.authorization;
    }
    const local = locals.get(site);
    if (local) {
      const answered = await answerLocally(local, site, request, url, started, client, logged);
      if (answered) return answered;
    }
    const rule = site.rule(request.method, url.pathname, url.searchParams, request.headers.get('accept'));
    const target = rule?.target ?? 'write';
    if (target === 'deny') {
      return refuse(logged, request, url, started, client, site, 405, 'DENIED', `site ${site.name} does not accept ${request.method} ${url.pathname}`, { role: target });
    }
    // Most requests touch no push session: no await (one microtask less) for those.
    const way =
      site.sessions && rule?.session
        ? await pushSessionWay(site, rule, target, restoredAuthorization !== undefined ? restoredAuthorization : request.headers.get('authorization'), url, client, started)
        : { role: target, subject: rule?.subject(url.pathname), pinned: rule?.pin ?? false };
    const exchange: Exchange = {
      request,
      url,
      clientAddress: client,
      site,
      role: way.role,
      upstream: site.upstreams[way.role]!,
      startedAt: started,
      tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
      subject: way.subject,
      pinned: way.pinned,
      session: way.session,
      steered: way.steered,
      mapUrls: rule?.mapUrls,
      restoredAuthorization,
    };
    // In flight for the status page from here until the access log line is written.
    const transfer = metrics.transfers.begin(exchange);
    const log: AccessLog = (entry) => {
      transfer.end();
      logged(entry);
    };
    return forward(exchange, { ...options, log }).catch((error: unknown) => {
      transfer.end();
      throw error;
    });
  });

  // Started last, so that nothing above can throw and leave timers running.
  const checks = startHealthChecks(sites, options.client);
  return Object.assign(app, { admin: createAdminApp(sites, metrics), stop: () => checks.stop() });
}

/**
 * An answer the router makes itself, before any upstream: the error in the client's format (the
 * site's, or by path when no site was found) and its access-log line. `early`: the request's body
 * is not read, so the connection closes after the answer (see answerEarly).
 */
function refuse(
  log: AccessLog,
  request: Request,
  url: URL,
  started: number,
  client: string,
  site: Site | null,
  status: number,
  code: RouterErrorCode,
  message: string,
  fields: Partial<AccessEntry>,
  early = true,
): Response {
  const response = errorResponse(site?.errorFormat ?? formatForPath(url.pathname), status, code, message);
  log({ ...entryFor(url, request.method, started, status, client, null), ...(site && { site: site.name }), bytesOut: ownBodyBytes(request.method, response), ...fields });
  return early ? answerEarly(request, response) : response;
}

/**
 * The role, subject, pinning and push session of a request, from its rule and the client's open
 * sessions: a rule with `session: "open"` opens or renews the session of (client, credentials,
 * repository); one with `session: "follow"` goes where that session writes, pinned like it.
 */
async function pushSessionWay(site: Site, rule: Rule | undefined, role: Role, authorization: string | null, url: URL, client: string, now: number) {
  const subject = rule?.subject(url.pathname);
  const way: { role: Role; subject?: string; pinned: boolean; session?: PushSession; steered?: 'session' } = { role, subject, pinned: rule?.pin ?? false };
  if (!site.sessions || !subject || !rule?.session) return way;
  const key = PushSessions.key(client, authorization, subject);
  // A session store that fails (the edge's shared state unreachable) costs the session, not the request.
  try {
    await followOrOpen(site.sessions, rule, key, role, now, way);
  } catch {
    return { role, subject, pinned: rule.pin };
  }
  return way;
}

/** Opens or follows the client's session for the rule; fills `way`. May throw where the store is remote. */
async function followOrOpen(
  sessions: SessionStore,
  rule: Rule,
  key: string,
  role: Role,
  now: number,
  way: { role: Role; pinned: boolean; session?: PushSession; steered?: 'session' },
): Promise<void> {
  if (rule.session === 'open') {
    way.session = await sessions.open(key, role, now);
    return;
  }
  const session = await sessions.find(key, now);
  if (!session) return;
  // A read whose push lost its server is an ordinary read again (the pull may fail over).
  if (session.server && !session.server.available(now)) await sessions.end(session);
  else Object.assign(way, { role: rule.followTo ?? session.role, pinned: true, session, steered: 'session' });
}

async function answerLocally(local: LocalHandler, site: Site, request: Request, url: URL, started: number, client: string, log: AccessLog): Promise<Response | undefined> {
  let answer;
  try {
    answer = await local(request, url);
  } catch (error) {
    const response = errorResponse(site.errorFormat, 500, 'UNAVAILABLE', `site ${site.name} could not read a local file`);
    log({ ...entryFor(url, request.method, started, 500, client, null), site: site.name, role: 'static', bytesOut: ownBodyBytes(request.method, response), error: String((error as Error)?.message ?? error) });
    return answerEarly(request, response);
  }
  if (!answer) return undefined;
  const { response, role } = answer;
  const bytesOut = ownBodyBytes(request.method, response);
  log({ ...entryFor(url, request.method, started, response.status, client, null), site: site.name, role, bytesOut });
  return answerEarly(request, response);
}
