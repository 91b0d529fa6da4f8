/**
 * `registry-router route --config FILE METHOD URL`: where the router would send that request, by
 * the same code that routes it (site/site.ts, rules/rule.ts, upstream/upstream.ts): the site, the
 * rule that matched (`sites[0].rules[2]`, or the preset's rule and its index in
 * src/rules/presets.ts), the role, what a push session changes, and the exact upstream URL.
 */
import { readConfigFile } from '../config/cli.ts';
import { ConfigError, parseConfigText } from '../config/load.ts';
import { dirnameOf, resolveConfigPaths } from '../config/paths.ts';
import type { Config, SiteConfig } from '../config/schema.ts';
import { DEFAULT_BOOTSTRAP, httpsPortOf } from '../local/local.ts';
import { unsafePath } from '../request/target.ts';
import { presets } from '../rules/presets.ts';
import type { Rule } from '../rules/rule.ts';
import { compileSite, type Site } from '../site/site.ts';
import type { Output } from './program.ts';

export interface RouteOptions {
  path: string;
  method: string;
  url: string;
  /** The request's Accept header, for rules that match on it (a docker pull's manifest HEAD). */
  accept?: string | undefined;
  readText(path: string): string;
  output: Output;
}

/** Prints the explanation; false (exit 2) when the config or the request cannot be read. */
export function routeCommand(options: RouteOptions): boolean {
  const { output } = options;
  let config: Config;
  try {
    config = resolveConfigPaths(parseConfigText(readConfigFile(options.path, options.readText), options.path), dirnameOf(options.path));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    output.err(`registry-router: ${error.message}\n`);
    return false;
  }
  const method = options.method.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) {
    output.err(`registry-router: "${options.method}" is not an HTTP method\n`);
    return false;
  }
  const notes: Array<[string, string]> = [];
  let given = options.url;
  if (given.startsWith('/')) {
    // A path alone: on the first site's first host a client could name (not a wildcard).
    const host = config.sites[0]?.hosts.find((name) => !name.includes('*'));
    if (!host) {
      output.err(`registry-router: "${given}" names no host, and sites[0] has no plain host name to use: give the URL the client uses, e.g. http://registry.example.com${given}\n`);
      return false;
    }
    given = `http://${host}${given}`;
    notes.push(['note', `no host given: the path on ${host} (sites[0]'s first host); give http://HOST${options.url} for another site`]);
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `http://${given}`);
  } catch {
    output.err(`registry-router: "${options.url}" is not a URL (give the one the client uses, e.g. http://idocker.io/v2/)\n`);
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    output.err(`registry-router: "${options.url}" is not an http(s) URL\n`);
    return false;
  }
  for (const [label, value] of [...notes, ...explainRoute(config, method, url, options.accept)]) output.out(`${label.padEnd(9)} ${value}\n`);
  return true;
}

/** The explanation as label/value lines (the command prints them aligned). */
export function explainRoute(config: Config, method: string, url: URL, accept?: string): Array<[string, string]> {
  const lines: Array<[string, string]> = [['request', `${method} ${url.href}${accept === undefined ? '' : ` (Accept: ${accept})`}`]];
  const index = config.sites.findIndex((site) => compileSite(site).servesHost(url.host));
  if (index < 0) {
    lines.push(['answer', `421: no site serves the host ${url.host} (sites serve: ${servedHosts(config)}); nothing is forwarded`]);
    return lines;
  }
  const siteConfig = config.sites[index]!;
  const site = compileSite(siteConfig);
  lines.push(['site', `${site.name} (sites[${index}], preset ${siteConfig.preset}, hosts ${siteConfig.hosts.join(', ')})`]);

  const unsafe = unsafePath(url.pathname);
  if (unsafe) {
    lines.push(['answer', `400: ${unsafe}: refused, it could reach outside the upstream's path prefix; nothing is forwarded`]);
    return lines;
  }
  if (siteConfig.uploadsFromEdge) {
    lines.push(['note', 'this site takes only uploads sealed by an edge worker (directUploads); anything else gets 403, a bad seal 401']);
  }
  const local = localAnswer(siteConfig, config, method, url);
  if (local) {
    lines.push(['answer', local]);
    return lines;
  }

  const rule = site.rule(method, url.pathname, url.searchParams, accept ?? null);
  if (!rule) {
    lines.push(['rule', 'none matches: writes are the default'], ['role', 'write']);
  } else {
    lines.push(['rule', ruleSource(siteConfig, index, rule)]);
  }
  const target = rule?.target ?? 'write';
  if (target === 'deny') {
    lines.push(['answer', `405: site ${site.name} does not accept ${method} ${url.pathname}; nothing is forwarded`]);
    return lines;
  }
  const alias = rule && rule.source.to !== target ? ` ("to": "${rule.source.to}" is ${target} on this site)` : '';
  if (rule) lines.push(['role', `${target}${alias}`]);

  const subject = rule?.subject(url.pathname);
  const pool = site.pools[target]!;
  let server = pool.primaries[0]!;
  if (rule?.pin && subject !== undefined) {
    server = pool.pinned(subject, true) ?? server;
    const of = pool.primaries.length > 1 ? `the primary "${subject}" hashes to (rendezvous), never retried on another` : 'its one primary';
    lines.push(['pinned', `every request of ${subject} goes to ${of}`]);
  }
  for (const note of sessionNotes(site, siteConfig, rule, subject, target, accept)) lines.push(['session', note]);
  if (rule?.mapUrls) lines.push(['answer', 'URLs in the JSON answer that point into an upstream are mapped to the public name']);

  lines.push(['upstream', server.upstream.target(url.pathname + url.search)]);
  if (pool.primaries.length > 1 || pool.backups.length) {
    const others = [
      pool.primaries.length > 1 ? `primaries ${pool.primaries.map((s) => s.href).join(', ')}` : '',
      pool.backups.length ? `backups ${pool.backups.map((s) => s.href).join(', ')}` : '',
    ].filter(Boolean);
    const why = rule?.pin && subject !== undefined ? 'when all are healthy' : 'least connections among the healthy ones';
    lines.push(['pool', `${others.join('; ')} (${why}${target !== 'read' && method !== 'GET' && method !== 'HEAD' && !siteConfig.writeToBackup ? '; writes never go to backups' : ''})`]);
  }
  return lines;
}

/** `sites[0].rules[2]: {…}` or `preset docker, rule #4 of src/rules/presets.ts: {…}`. */
function ruleSource(site: SiteConfig, index: number, rule: Rule): string {
  const own = site.rules.indexOf(rule.source);
  const text = JSON.stringify(rule.source);
  if (own >= 0) return `site rule sites[${index}].rules[${own}]: ${text}`;
  const preset = presets[site.preset].rules.indexOf(rule.source);
  return `preset ${site.preset}, rule #${preset} (src/rules/presets.ts): ${text}`;
}

/** `docker (idocker.io, idocker.io:5000); web (repo.example.com)`: every site's hosts, as the 421 answer names them. */
export function servedHosts(config: Config): string {
  return config.sites.map((site) => `${site.name} (${site.hosts.join(', ')})`).join('; ');
}

/** What a session changes for this request, in the words of the site's format (a docker push, a Maven deploy). */
function sessionNotes(site: Site, config: SiteConfig, rule: Rule | undefined, subject: string | undefined, role: string, accept: string | undefined): string[] {
  if (!rule?.session || subject === undefined) return [];
  const words = SESSION_WORDS[config.preset] ?? SESSION_WORDS.generic!;
  if (!site.sessions) return [`${words.name}s are off on this site (pushSessions.idle is 0)`];
  const idle = config.pushSessions.idle;
  const client = 'the client is its address plus its credentials';
  if (rule.session === 'open') {
    return [`opens (or renews) the client's ${words.name} for ${subject} (${client}): until ${idle} s after its last such request, ${words.opened(subject, role)}`];
  }
  // Where the session sends it: the rule's own target, else the role of the request that opened the session.
  const roleOf = (to: string): string => (to in site.pools ? to : (presets[config.preset].optionalRoles[to] ?? to));
  const opening = [...new Set([...config.rules, ...presets[config.preset].rules].filter((r) => r.session === 'open').map((r) => roleOf(r.to)))];
  const to = rule.followTo ?? (opening.length === 1 ? opening[0]! : `${opening.join(' or ')}, the role of the request that opened it`);
  return [
    `inside a ${words.name} of ${subject} by the same client (${client}; opened by ${words.openedBy} within the last ${idle} s): ${words.followed(to)}, pinned to its server, logged as role "session"`,
    `otherwise (${words.otherwise(accept)}): ${role}`,
  ];
}

interface SessionWords {
  /** `docker push session`. */
  name: string;
  openedBy: string;
  opened(subject: string, role: string): string;
  followed(to: string): string;
  otherwise(accept: string | undefined): string;
}

/** Each format's sessions in its own terms; `generic` for sites whose own rules open sessions. */
const SESSION_WORDS: Partial<Record<SiteConfig['preset'], SessionWords>> = {
  docker: {
    name: 'docker push session',
    openedBy: 'an upload or a blob HEAD of that repository',
    opened: (subject, role) =>
      `that client's manifest HEADs of ${subject} asking for one media type go to ${role}, pinned: containerd asks "is this tag there?" before its manifest PUT, and skips the PUT when the group already serves the tag`,
    followed: (to) => `containerd's "is this tag there?" before its manifest PUT goes where the push writes: ${to}`,
    otherwise: (accept) => `other clients, no push of this repository in progress${accept === undefined ? '; and a pull\'s HEAD, whose Accept lists several manifest types and */*: see --accept' : ''}`,
  },
  maven: {
    name: 'Maven deploy session',
    openedBy: 'an artifact upload (PUT) under that groupId/artifactId',
    opened: (subject, role) =>
      `that client's reads and writes of ${subject}'s maven-metadata.xml go to ${role}, where this deploy writes: mvn deploy reads the metadata, adds its version and writes it back, so it must read it from the repository it writes to, not from the group`,
    followed: (to) => `a metadata read or write during a deploy goes where the deploy writes: ${to}`,
    otherwise: () => 'resolvers, other clients, and the first request of a deploy, which has no session yet',
  },
  generic: {
    name: 'session',
    openedBy: 'a request of a "session": "open" rule',
    opened: (subject, role) => `that client's requests of ${subject} matched by a "session": "follow" rule go to ${role}, pinned`,
    followed: (to) => `goes to ${to}`,
    otherwise: () => 'other clients, no session open',
  },
};

/** What the router answers itself before any rule: the bootstrap script and CA, the HTTPS redirect, static folders. */
function localAnswer(site: SiteConfig, config: Config, method: string, url: URL): string | undefined {
  if (site.preset === 'docker' && site.bootstrap !== false && config.caCert !== undefined) {
    const paths = { ...DEFAULT_BOOTSTRAP, ...site.bootstrap };
    if (url.pathname === paths.path) return `answered by the router: the client bootstrap script (rendered for ${url.host}); nothing is forwarded`;
    if (url.pathname === paths.caPath) return `answered by the router: the CA certificate ${config.caCert}; nothing is forwarded`;
  }
  if (site.httpsRedirect !== false && url.protocol === 'http:') {
    const port = httpsPortOf(site, config);
    const status = method === 'GET' || method === 'HEAD' ? 301 : 308;
    return `${status} redirect to https://${url.hostname}${port === 443 ? '' : `:${port}`}${url.pathname}${url.search} (httpsRedirect); nothing is forwarded`;
  }
  const mount = [...site.static]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .find(({ prefix }) => prefix === '' || url.pathname === prefix || url.pathname.startsWith(`${prefix}/`));
  if (mount) return `answered by the router from the folder ${mount.dir} (static "${mount.prefix || '/'}"; 404 when no such file); nothing is forwarded`;
  return undefined;
}
