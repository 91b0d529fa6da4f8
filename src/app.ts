import { Hono, type Context } from 'hono';
import { entryFor, type AccessLog } from './access-log.ts';
import { createAdminApp } from './status/admin.ts';
import type { Config } from './config/schema.ts';
import { answerEarly, errorResponse, formatForPath, ownBodyBytes } from './errors.ts';
import type { BodyPass, Exchange } from './exchange.ts';
import type { UpstreamClient } from './forward/client.ts';
import { forward } from './forward/forward.ts';
import { Metrics } from './status/metrics.ts';
import { startHealthChecks, stderrHealthLog } from './upstream/health.ts';
import type { HealthListener } from './upstream/pool.ts';
import type { FileAccess } from './local/files.ts';
import { answerLocal, type LocalAnswer } from './local/local.ts';
import { openUploadRequest, uploadSealFor, type OpenedUpload } from './edge/uploads.ts';
import { refuseEarly } from './request/guard.ts';
import { RequestUrl } from './request/url.ts';
import { compileRouting, type Asked, type Decision, type Forward, type Local, type Refuse, type Routing } from './decision.ts';
import { bodyPassesFor } from './passes/body.ts';
import type { Role } from './rules/rule.ts';
import { PushSessions, type PushSession, type SessionStore, type SharedSessions } from './site/push-sessions.ts';
import { compileSite, type Site } from './site/site.ts';

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
  /** Sessions shared by every process (Redis: site/redis-sessions.ts), each site's falling back to its own; closed by `stop()`. */
  sharedSessions?: SharedSessions;
  /** Reads a secret from the environment (worker bindings, process env): the direct-uploads key. */
  secret?: (name: string) => string | undefined;
  /**
   * The outgoing passes copy a request's fields as the runtime's own `Headers` (Bun: one native
   * copy, cheap to edit, taken by its fetch as it is), not as a HeaderFields; see passes/outgoing.ts.
   */
  nativeRequestFields?: boolean;
}

/** What an adapter that calls `RouterApp.answer` knows of a request besides the Request itself. */
export interface Served {
  /** The client's address (after `realIp`, see src/adapter/app.ts); '' when unknown. */
  client: string;
  /** Called once the answer has gone out whole or broke off (when its access-log line is written). */
  answered?: () => void;
}

/**
 * The sites' app, plus the admin app (`/metrics`, `/healthz`, `/readyz`) for its own listener, the
 * routing it decides by (src/decision.ts) and `stop()` for the health-check timers.
 *
 * `answer(request, served)` is the same handler without Hono's dispatch around it (a Context, a
 * route match, a Response rebuilt for every HEAD): ~4.5 µs less CPU per small request on Bun.serve
 * in A/B, a tenth of what the router spends there. The router has one route, `*`, so nothing is
 * lost; what Hono's dispatch does besides is kept (a thrown Error is logged and answered 500
 * "Internal Server Error"; a HEAD answer that carries a body goes out without it). Resolves to the
 * Response; rejects only with what is not an Error, as Hono does.
 */
export type RouterApp = Hono & {
  readonly admin: Hono;
  readonly routing: Routing;
  stop(): void;
  answer(request: Request, served: Served): Promise<Response>;
};

/**
 * The whole router as a Fetch-API app: the decision (site, local answer or rule: src/decision.ts),
 * then for a forward the push session, upstream, outgoing passes, client, incoming and body passes.
 * Adapters only start a server around `app.fetch` and inject the client.
 */
export function createApp(config: Config, appOptions: AppOptions): RouterApp {
  const sites: Site[] = config.sites.map((siteConfig) => {
    const site = compileSite(siteConfig);
    const uploads = uploadSealFor(siteConfig, appOptions.secret ?? (() => undefined));
    const idleMs = siteConfig.pushSessions.idle * 1000;
    const { sessionStore, sharedSessions } = appOptions;
    const sessions =
      idleMs <= 0
        ? site.sessions
        : sessionStore
          ? sessionStore(site, idleMs)
          : sharedSessions
            ? sharedSessions.store(site, idleMs, new PushSessions(idleMs, siteConfig.pushSessions.max))
            : site.sessions;
    return { ...site, sessions, ...(uploads && { uploads }) };
  });
  const metrics = new Metrics();
  // The shared store's state on /metrics, /status.json and /readyz.
  if (appOptions.sharedSessions) metrics.sessions = appOptions.sharedSessions;
  const options: AppOptions = { ...appOptions, log: metrics.counting(appOptions.log) };
  for (const site of sites) for (const server of site.servers) server.onChange = options.healthLog ?? stderrHealthLog;
  // The sites compiled once: the decision here, and the blob cache at the edge through `app.routing`.
  const routing = compileRouting(config, sites, { files: options.files !== undefined });
  // Each site's body passes: only those its configuration needs.
  const bodyPasses = new Map<Site, readonly BodyPass[]>(sites.map((site, i) => [site, bodyPassesFor(config.sites[i]!)]));
  const app = new Hono();

  /**
   * Answers `request`: settled through `ending` when given (RouterApp.answer), else as is (Hono's
   * dispatch handles what it rejects with). A request forwarded with no push session (most) takes
   * no await on its way: forward's promise with one `then`. May throw (Hono catches that too).
   */
  const answer = (request: Request, client: string, onAnswered: (() => void) | undefined, ending?: Ending): Promise<Response> => {
    // The access-log moment is when the answer has gone out (or broke off): adapters that must act
    // then (Bun.serve re-arms its keep-alive timer) pass `answered`.
    const logged: AccessLog = onAnswered
      ? (entry) => {
          options.log(entry);
          onAnswered();
        }
      : options.log;
    let url: URL;
    try {
      // Its parts read once each (request/url.ts): the decision, passes and access log read them again and again.
      url = new RequestUrl(request.url);
    } catch (error) {
      // Bun.serve builds request.url from a Host list (`a, b`): the guard's 400, not a 500 (checked
      // here, once parsing failed, rather than on every request before the app: ~1 µs on Bun).
      const refused = refuseEarly(request);
      if (!refused) throw error;
      onAnswered?.();
      return ended(Promise.resolve(refused), ending);
    }
    const asked: Asked = { method: request.method, url, headers: request.headers, client };
    const at: Answering = { request, url: asked.url, started: Date.now(), client: asked.client, log: logged };
    const decision = routing.decide(asked);
    if (decision.kind === 'forward' && !(decision.session && decision.site.sessions)) return forwardAs(at, decision, plainWay(decision), undefined, ending);
    return ended(answerOtherwise(at, asked, decision), ending);
  };

  /** What is not a plain forward: an upload capability to open, a refusal, a local answer, a push session's way. */
  const answerOtherwise = async (at: Answering, asked: Asked, first: Decision): Promise<Response> => {
    const { request } = at;
    let decision = first;
    let restoredAuthorization: string | null | undefined;
    if (decision.kind === 'unseal') {
      const opened = await openUpload(decision.site, request.method, asked.url);
      if ('status' in opened) {
        const code = opened.status === 401 ? 'UNAUTHORIZED' : 'DENIED';
        return refuse(at, { kind: 'refuse', site: decision.site, status: opened.status, code, message: opened.message, error: opened.message, early: true });
      }
      // From here on the request is what the capability restored: its URL without it, the client's credentials.
      at.url = opened.url;
      restoredAuthorization = opened.authorization;
      decision = routing.decide({ ...asked, url: opened.url, unsealed: { authorization: opened.authorization } });
    }
    switch (decision.kind) {
      case 'refuse':
        return refuse(at, decision);
      case 'local':
        return answerLocally(at, decision, options.files);
      case 'unseal':
        throw new Error(`site ${decision.site.name}: an unsealed upload was asked to be unsealed again`);
    }
    const { site } = decision;
    const way = decision.session && site.sessions ? await sessionWay(site.sessions, decision, at.started) : plainWay(decision);
    return forwardAs(at, decision, way, restoredAuthorization, undefined);
  };

  /** Forwards a decided request the `way` its session (if any) says; settled through `ending` when given. */
  const forwardAs = (at: Answering, decision: Forward, way: Way, restoredAuthorization: string | null | undefined, ending: Ending | undefined) => {
    const { site } = decision;
    const exchange: Exchange = {
      request: at.request,
      url: at.url,
      clientAddress: at.client,
      site,
      role: way.role,
      upstream: site.upstreams[way.role]!,
      startedAt: at.started,
      tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
      subject: decision.subject,
      pinned: way.pinned,
      session: way.session,
      steered: way.steered,
      mapUrls: decision.mapUrls,
      upstreamPath: decision.upstreamPath,
      restoredAuthorization,
      relayFields: decision.relayFields,
      nativeFields: options.nativeRequestFields,
    };
    // In flight for the status page from here until the access log line is written.
    const transfer = metrics.transfers.begin(exchange);
    const logged = at.log;
    const log: AccessLog = (entry) => {
      transfer.end();
      logged(entry);
    };
    let forwarding: Promise<Response>;
    try {
      forwarding = forward(exchange, { client: options.client, log, bodyPasses: bodyPasses.get(site) });
    } catch (error) {
      // forward is not async: what it throws before its first promise still ends the transfer below.
      forwarding = Promise.reject(error);
    }
    return forwarding.then(ending?.answered, (error: unknown) => {
      transfer.end();
      if (ending) return ending.failed(error);
      throw error;
    });
  };
  app.all('*', (c) => answer(c.req.raw, options.clientAddress?.(c) ?? '', (c.env as { answered?: () => void } | undefined)?.answered));

  // Started last, so that nothing above can throw and leave timers running.
  const checks = startHealthChecks(sites, options.client);
  return Object.assign(app, {
    admin: createAdminApp(sites, metrics),
    routing,
    answer: (request: Request, { client, answered }: Served): Promise<Response> => {
      const ending = request.method === 'HEAD' ? HEAD_ENDING : ENDING;
      try {
        return answer(request, client, answered, ending);
      } catch (error) {
        return ended(Promise.reject(error), ending);
      }
    },
    stop: () => {
      checks.stop();
      appOptions.sharedSessions?.close();
    },
  });
}

/** As Hono answers a handler's Error: logged on stderr, 500 with a plain-text body; anything else thrown goes on. */
function internalError(error: unknown): Response {
  if (!(error instanceof Error)) throw error;
  console.error(error);
  return new Response('Internal Server Error', { status: 500, headers: { 'content-type': 'text/plain; charset=UTF-8' } });
}

/** A HEAD answer without a body, as Hono rebuilds every one (an error or local answer made for GET may carry one). */
const headless = (response: Response): Response => (response.body === null ? response : new Response(null, response));

/** How RouterApp.answer settles an answer, in one `then`: what Hono's dispatch would do around the handler. */
interface Ending {
  answered?: (response: Response) => Response;
  failed: (error: unknown) => Response;
}

const ENDING: Ending = { failed: internalError };
const HEAD_ENDING: Ending = { answered: headless, failed: (error) => headless(internalError(error)) };

/** `answering` settled through `ending` (when given). */
const ended = (answering: Promise<Response>, ending: Ending | undefined): Promise<Response> =>
  ending ? answering.then(ending.answered, ending.failed) : answering;

/** One request being answered: what every answer the router makes itself and its access-log line need. */
interface Answering {
  readonly request: Request;
  /** The URL as the client addressed it; after an upload capability opened, without it. */
  url: URL;
  readonly started: number;
  readonly client: string;
  readonly log: AccessLog;
}

/**
 * An answer the router makes itself, before any upstream: the error in the client's format (the
 * site's, or by path when no site was found) and its access-log line. An `early` refusal leaves
 * the request's body unread, so the connection closes after the answer (see answerEarly).
 */
function refuse({ request, url, started, client, log }: Answering, refusal: Refuse): Response {
  const { site, status } = refusal;
  const response = errorResponse(site?.errorFormat ?? formatForPath(url.pathname), status, refusal.code, refusal.message);
  log({
    ...entryFor(url, request.method, started, status, client, null),
    ...(site && { site: site.name }),
    bytesOut: ownBodyBytes(request.method, response),
    ...(refusal.error !== undefined && { error: refusal.error }),
    ...(refusal.role && { role: refusal.role }),
  });
  return refusal.early ? answerEarly(request, response) : response;
}

/** The origin side's gate (edge/uploads.ts); a key that cannot be had is a 500 naming why. */
async function openUpload(site: Site, method: string, url: URL): Promise<OpenedUpload | { status: 500; message: string }> {
  try {
    return await openUploadRequest(site.uploads!, method, url);
  } catch (error) {
    return { status: 500, message: String((error as Error).message) };
  }
}

/** Where a forwarded request goes, once its push session (if any) has had its say. */
interface Way {
  role: Role;
  pinned: boolean;
  session?: PushSession;
  steered?: 'session';
}

const plainWay = (decision: Forward): Way => ({ role: decision.role, pinned: decision.pinned });

/**
 * The decision's session effect against the site's store: `open` opens or renews the session of
 * (client, credentials, repository); `follow` goes where that session writes, pinned like it. A
 * store that fails (the edge's shared state unreachable) costs the session, not the request.
 */
async function sessionWay(sessions: SessionStore, decision: Forward, now: number): Promise<Way> {
  const { effect, key, followTo } = decision.session!;
  try {
    if (effect === 'open') return { ...plainWay(decision), session: await sessions.open(key, decision.role, now) };
    const session = await sessions.find(key, now);
    if (!session) return plainWay(decision);
    // A read whose push lost its server is an ordinary read again (the pull may fail over).
    if (session.server && !session.server.available(now)) {
      await sessions.end(session);
      return plainWay(decision);
    }
    return { role: followTo ?? session.role, pinned: true, session, steered: 'session' };
  } catch {
    return plainWay(decision);
  }
}

/** Answers a local decision: the file reads are here; a read that fails is a 500 naming the site. */
async function answerLocally(at: Answering, local: Local, files: FileAccess | undefined): Promise<Response> {
  const { request, url, started, client, log } = at;
  const { site } = local;
  let answer: LocalAnswer;
  try {
    answer = await answerLocal(local.plan, local, request, local.url, files);
  } catch (error) {
    const response = errorResponse(site.errorFormat, 500, 'UNAVAILABLE', `site ${site.name} could not read a local file`);
    const failed = { site: site.name, role: 'static', bytesOut: ownBodyBytes(request.method, response), error: String((error as Error)?.message ?? error) };
    log({ ...entryFor(url, request.method, started, 500, client, null), ...failed });
    return answerEarly(request, response);
  }
  const { response, role } = answer;
  const bytesOut = ownBodyBytes(request.method, response);
  log({ ...entryFor(url, request.method, started, response.status, client, null), site: site.name, role, bytesOut });
  return answerEarly(request, response);
}
