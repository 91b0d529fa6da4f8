/**
 * The routing decision: what happens to a request, worked out in one place from the request and
 * the compiled config, without any I/O. The app acts on it (src/app.ts: session store lookups,
 * file reads, forwarding), `registry-router route` prints it (src/cli/route.ts), and the edge blob
 * cache asks it whether a blob GET is a plain read it may answer (src/edge/blob-cache.ts).
 *
 * In order: the request guard (src/request/guard.ts), the site by Host (421 when none; the
 * bootstrap script and CA by IP), hidden dot segments (400), the origin side of direct uploads
 * (`unseal`: the app opens the capability, then decides again), the site's local answers
 * (src/local/local.ts), the rule (deny: 405), and for a forward the role, pinning and the push
 * session it opens or follows (keyed by the client's address and Authorization).
 */
import type { Config, SiteConfig } from './config/schema.ts';
import type { StaticMount } from './config/serving.ts';
import type { RouterErrorCode } from './errors.ts';
import { addressBootstrap, addressUrl, chooseLocal, isAddress, localPlan, type LocalPlan } from './local/local.ts';
import { guardRequest, type FieldsSeen } from './request/guard.ts';
import { unsafePath } from './request/target.ts';
import type { Role, Rule } from './rules/rule.ts';
import { PushSessions } from './site/push-sessions.ts';
import { compileSite, siteFinder, type Site } from './site/site.ts';

/** What the decision reads of a request. */
export interface Asked {
  readonly method: string;
  /** The URL as the client addressed it (scheme, Host with port, path, query). */
  readonly url: URL;
  /** Host, Accept, Authorization, and what the guard checks. */
  readonly headers: Headers;
  /** The client's address (push-session keys). */
  readonly client: string;
  /** Set once the origin side of direct uploads opened the request's capability: the `Authorization` it restored. */
  readonly unsealed?: { readonly authorization: string | null };
  /** false: leave the request guard out, for a caller whose requests all go through the app, which guards them (the blob cache). */
  readonly guard?: false;
}

/** The router answers with an error of its own; nothing is forwarded. */
export interface Refuse {
  readonly kind: 'refuse';
  /** The site whose error format the answer takes; undefined: by path (no site found). */
  readonly site: Site | undefined;
  readonly status: number;
  readonly code: RouterErrorCode;
  readonly message: string;
  /** The access log's `error` field, when it has one. */
  readonly error?: string;
  /** A deny rule's refusal: the rule, and `role: "deny"` in the access log. */
  readonly rule?: Rule;
  readonly role?: 'deny';
  /** The request's body is not read: the connection closes after the answer (errors.ts answerEarly). */
  readonly early: boolean;
}

/** The origin side of direct uploads: the app opens the upload capability (async, a key), then decides again with `unsealed`. */
export interface Unseal {
  readonly kind: 'unseal';
  readonly site: Site;
}

/** The router answers itself (src/local/local.ts answerLocal). */
export type Local = {
  readonly kind: 'local';
  readonly site: Site;
  /** What the site's local answers are; answerLocal reads it. */
  readonly plan: LocalPlan;
  /** The URL the answer is made for: the request's, or the site's host name for a client that used an IP address. */
  readonly url: URL;
} & (
  | { readonly which: 'bootstrap' | 'ca' }
  | { readonly which: 'redirect'; readonly status: 301 | 308; readonly location: string }
  | { readonly which: 'static'; readonly mount: StaticMount }
);

/** What a push session does to the request; the store lookups are the app's (the store may be remote). */
export interface SessionEffect {
  /** `open`: open or renew the client's session for the subject; `follow`: inside one, go where it writes, pinned. */
  readonly effect: 'open' | 'follow';
  /** The session's key: client address, a hash of its Authorization, the subject (site/push-sessions.ts). */
  readonly key: string;
  /** With `follow`: where to go inside a session, when not where the session writes. */
  readonly followTo: Role | undefined;
}

/** The request goes to an upstream of the site. */
export interface Forward {
  readonly kind: 'forward';
  readonly site: Site;
  /** The rule that matched; undefined: none did (writes are the default). */
  readonly rule: Rule | undefined;
  /** The role the rule names (before any push session steers it). */
  readonly role: Role;
  /** What the rule's `**` matched (the repository). */
  readonly subject: string | undefined;
  /** One server of the role's pool by subject, never retried elsewhere. */
  readonly pinned: boolean;
  /** Undefined: no session is opened or followed (none in the rule, no subject, or sessions off on the site). */
  readonly session: SessionEffect | undefined;
  /** URLs in the JSON answer that point into an upstream are mapped to the public name. */
  readonly mapUrls: boolean;
  /** The path sent upstream when the rule rewrites it (`stripPrefix`); undefined: the request's own. */
  readonly upstreamPath: string | undefined;
  /**
   * Whether the request carries a field the outgoing passes drop or read (passes/hop-by-hop.ts
   * RELAY_FIELDS), as the guard's walk found; undefined when the guard was left out.
   */
  readonly relayFields: boolean | undefined;
}

export type Decision = Refuse | Unseal | Local | Forward;

/** The compiled sites with what the decision needs of each: one compile step for the app, `route` and the blob cache. */
export interface Routing {
  /** The sites in config order. */
  readonly sites: readonly Site[];
  /** The config each site was compiled from. */
  configOf(site: Site): SiteConfig;
  /** Where `site` stands in `config.sites`. */
  indexOf(site: Site): number;
  /** The decision for one request. Pure and synchronous. */
  decide(asked: Asked): Decision;
}

/**
 * The routing for `config` over `sites` (the app's, with their session stores; compileSite's
 * otherwise), in config order. `files`: whether this runtime can read files (local answers).
 */
export function compileRouting(config: Config, sites: readonly Site[] = config.sites.map(compileSite), options: { files: boolean } = { files: true }): Routing {
  if (sites.length !== config.sites.length) throw new Error(`compileRouting: ${sites.length} sites for ${config.sites.length} site configs`);
  const findSite = siteFinder(sites);
  const known = new Map(
    sites.map((site, index) => {
      const siteConfig = config.sites[index]!;
      return [site, { index, config: siteConfig, local: localPlan(siteConfig, config, options.files), gated: isOriginSide(siteConfig) }];
    }),
  );
  const byAddress = addressBootstrap(config, options.files);
  const served = servedHosts(config);

  const decide = ({ method, url, headers, client, unsealed, guard }: Asked): Decision => {
    // The guard reads the method and the headers only.
    const seen: FieldsSeen | undefined = guard === false ? undefined : { relay: true };
    const refusal = seen && guardRequest({ method, headers } as Request, url, seen);
    if (refusal) {
      const { status, message } = refusal;
      return { kind: 'refuse', site: undefined, status, code: 'UNSUPPORTED', message, error: message, early: true };
    }
    // Each of a URL's getters makes a new string (~80 ns on Bun 1.4.5): read once here.
    const { host, pathname } = url;
    const site = findSite(host);
    if (!site) {
      // By IP, before the name resolves: the bootstrap script and CA of the first docker site.
      if (byAddress && isAddress(url.hostname) && (pathname === byAddress.path || pathname === byAddress.caPath)) {
        const owner = sites[byAddress.index]!;
        const which = pathname === byAddress.path ? 'bootstrap' : 'ca';
        return { kind: 'local', site: owner, plan: known.get(owner)!.local!, url: addressUrl(url, byAddress.name), which };
      }
      const message = `this router serves no site named ${host}; its sites serve: ${served}`;
      return { kind: 'refuse', site: undefined, status: 421, code: 'UNSUPPORTED', message, early: false };
    }
    // Before static folders and rules: a hidden dot segment is refused whatever would serve it.
    const unsafe = unsafePath(pathname);
    if (unsafe) {
      const message = `${unsafe}: refused, it could reach outside the upstream's path prefix`;
      return { kind: 'refuse', site, status: 400, code: 'NAME_INVALID', message, error: unsafe, early: true };
    }
    const { local, gated } = known.get(site)!;
    // The origin side of direct uploads answers nothing but uploads the edge sealed.
    if (gated && !unsealed) return { kind: 'unseal', site };
    const choice = local && chooseLocal(local, method, url);
    if (choice) return { kind: 'local', site, plan: local, url, ...choice };
    // Without a query, no URLSearchParams is made for it (~140 ns on Bun): the rules only read it.
    const rule = site.rule(method, pathname, url.search ? url.searchParams : NO_QUERY, headers.get('accept'));
    const role = rule?.target ?? 'write';
    if (role === 'deny') {
      // The format's own deny rules say what it takes instead (raw: how to upload); a site's own rules have no words.
      const why = site.format?.refusal && site.format.rules.includes(rule!.source) ? `: ${site.format.refusal}` : '';
      const message = `site ${site.name} does not accept ${method} ${pathname}${why}`;
      return { kind: 'refuse', site, rule, role, status: 405, code: 'DENIED', message, early: true };
    }
    const subject = rule?.subject(pathname);
    let session: SessionEffect | undefined;
    if (site.sessions && rule?.session && subject) {
      const authorization = unsealed ? unsealed.authorization : headers.get('authorization');
      session = { effect: rule.session, key: PushSessions.key(client, authorization, subject), followTo: rule.followTo };
    }
    const upstreamPath = rule?.upstreamPath(pathname);
    const pinned = rule?.pin ?? false;
    return { kind: 'forward', site, rule, role, subject, pinned, session, mapUrls: rule?.mapUrls ?? false, upstreamPath, relayFields: seen?.relay };
  };

  return {
    sites,
    configOf: (site) => known.get(site)!.config,
    indexOf: (site) => known.get(site)?.index ?? -1,
    decide,
  };
}

/** The query of a URL that has none: shared, read only (rules never change it). */
const NO_QUERY: URLSearchParams = new URLSearchParams();

/** The origin side of direct uploads (as edge/uploads.ts uploadSealFor tells the halves apart). */
const isOriginSide = (site: SiteConfig): boolean => site.directUploads === undefined && site.uploadsFromEdge !== undefined;

/** `docker (idocker.io, idocker.io:5000); web (repo.example.com)`: every site's hosts, as the 421 answer names them. */
export function servedHosts(config: Config): string {
  return config.sites.map((site) => `${site.name} (${site.hosts.join(', ')})`).join('; ');
}
