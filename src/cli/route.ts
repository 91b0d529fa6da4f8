/**
 * `registry-router route --config FILE METHOD URL`: where the router would send that request, by
 * the same decision that routes it (src/decision.ts, then upstream/upstream.ts): the site, the
 * rule that matched (`sites[0].rules[2]`, or the format's rule and its index in its module,
 * src/formats/<name>.ts), the role, what a push session changes, and the exact upstream URL.
 */
import { readConfigFile } from '../config/cli.ts';
import { ConfigError, parseConfigText } from '../config/load.ts';
import { dirnameOf, resolveConfigPaths } from '../config/paths.ts';
import type { Config, SiteConfig } from '../config/schema.ts';
import { compileRouting, servedHosts, type Asked, type Forward, type Local } from '../decision.ts';
import { FORMATS, type SessionWords } from '../formats/index.ts';
import type { Rule } from '../rules/rule.ts';
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
      output.err(
        `registry-router: "${given}" names no host, and sites[0] has no plain host name to use: give the URL the client uses, ` +
          `e.g. http://registry.example.com${given}\n`,
      );
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

/** The explanation as label/value lines (the command prints them aligned): the parts of the decision (src/decision.ts). */
export function explainRoute(config: Config, method: string, url: URL, accept?: string): Array<[string, string]> {
  const lines: Array<[string, string]> = [['request', `${method} ${url.href}${accept === undefined ? '' : ` (Accept: ${accept})`}`]];
  const routing = compileRouting(config);
  const headers = new Headers({ host: url.host });
  if (accept !== undefined) headers.set('accept', accept);
  // The client's address and credentials only name its session: any will do here.
  const asked: Asked = { method, url, headers, client: '' };
  let decision = routing.decide(asked);
  const site = decision.site;
  if (site) {
    const siteConfig = routing.configOf(site);
    lines.push(['site', `${site.name} (sites[${routing.indexOf(site)}], preset ${siteConfig.preset}, hosts ${siteConfig.hosts.join(', ')})`]);
  }
  if (decision.kind === 'unseal') {
    lines.push(['note', 'this site takes only uploads sealed by an edge worker (directUploads); anything else gets 403, a bad seal 401']);
    // What a sealed upload of this URL then gets.
    decision = routing.decide({ ...asked, unsealed: { authorization: null } });
  }
  switch (decision.kind) {
    case 'unseal':
      return lines;
    case 'local':
      lines.push(['answer', localText(config, decision)]);
      return lines;
    case 'refuse':
      if (!decision.site && decision.status === 421) {
        lines.push(['answer', `421: no site serves the host ${url.host} (sites serve: ${servedHosts(config)}); nothing is forwarded`]);
        return lines;
      }
      if (decision.rule) lines.push(['rule', ruleSource(routing.configOf(decision.site!), routing.indexOf(decision.site!), decision.rule)]);
      lines.push(['answer', `${decision.status}: ${decision.message}; nothing is forwarded`]);
      return lines;
  }
  const siteConfig = routing.configOf(decision.site);
  const { rule, role: target, subject } = decision;
  if (!rule) {
    lines.push(['rule', 'none matches: writes are the default'], ['role', 'write']);
  } else {
    lines.push(['rule', ruleSource(siteConfig, routing.indexOf(decision.site), rule)]);
    const alias = rule.source.to !== target ? ` ("to": "${rule.source.to}" is ${target} on this site)` : '';
    const words = FORMATS[siteConfig.preset].roleWords?.[target];
    lines.push(['role', `${target}${alias}${words ? `: ${words}` : ''}`]);
  }

  const pool = decision.site.pools[target]!;
  let server = pool.primaries[0]!;
  const pinned = decision.pinned && subject !== undefined;
  if (pinned) {
    server = pool.pinned(subject, true) ?? server;
    const of = pool.primaries.length > 1 ? `the primary "${subject}" hashes to (rendezvous), never retried on another` : 'its one primary';
    lines.push(['pinned', `every request of ${subject} goes to ${of}`]);
  }
  for (const note of sessionNotes(decision, siteConfig, accept)) lines.push(['session', note]);
  if (decision.mapUrls) {
    // The kinds of answer the format maps (npm: JSON packuments; PyPI: PEP 503 HTML and PEP 691 JSON pages; NuGet: Atom XML and JSON).
    const format = FORMATS[siteConfig.preset];
    const kinds = (format.bodyUrls ?? ['json']).map((kind) => kind.toUpperCase()).join(' or ');
    lines.push(['answer', `URLs in the ${kinds} answer that point into an upstream are mapped to the public name`]);
    // Said only where the amend applies (NuGet: a service index), not of every mapped answer.
    if (format.amendBody && (format.amendBody.paths?.test(url.pathname) ?? true)) lines.push(['answer', format.amendBody.words]);
  }

  if (decision.upstreamPath !== undefined) {
    // NuGet's push URL of a bare-host source (`/api/v2/package/`) is the hosted repository's root.
    lines.push(['path', `${rule!.source.stripPrefix} is taken off: the upstream gets ${decision.upstreamPath}`]);
  }
  lines.push(['upstream', server.upstream.target((decision.upstreamPath ?? url.pathname) + url.search)]);
  if (pool.primaries.length > 1 || pool.backups.length) {
    const others = [
      pool.primaries.length > 1 ? `primaries ${pool.primaries.map((s) => s.href).join(', ')}` : '',
      pool.backups.length ? `backups ${pool.backups.map((s) => s.href).join(', ')}` : '',
    ].filter(Boolean);
    const why = pinned ? 'when all are healthy' : 'least connections among the healthy ones';
    const primariesOnly = target !== 'read' && method !== 'GET' && method !== 'HEAD' && !siteConfig.writeToBackup;
    lines.push(['pool', `${others.join('; ')} (${why}${primariesOnly ? '; writes never go to backups' : ''})`]);
  }
  return lines;
}

/** `sites[0].rules[2]: {…}` or `preset docker, rule #4 (src/formats/docker.ts): {…}`. */
function ruleSource(site: SiteConfig, index: number, rule: Rule): string {
  const own = site.rules.indexOf(rule.source);
  const text = JSON.stringify(rule.source);
  if (own >= 0) return `site rule sites[${index}].rules[${own}]: ${text}`;
  const preset = FORMATS[site.preset].rules.indexOf(rule.source);
  return `preset ${site.preset}, rule #${preset} (src/formats/${site.preset}.ts): ${text}`;
}

/** What a session changes for this request, in the words of the site's format (a docker push, a Maven deploy). */
function sessionNotes(decision: Forward, config: SiteConfig, accept: string | undefined): string[] {
  const { site, rule, subject, role } = decision;
  if (!rule?.session || !subject) return [];
  // Each format's sessions in its own terms (its module's `sessions`); the generic words for a site's own session rules.
  const words: SessionWords = FORMATS[config.preset].sessions ?? FORMATS.generic.sessions!;
  if (!decision.session) return [`${words.name}s are off on this site (pushSessions.idle is 0)`];
  const idle = config.pushSessions.idle;
  const client = 'the client is its address plus its credentials';
  if (decision.session.effect === 'open') {
    const until = `until ${idle} s after its last such request`;
    return [`opens (or renews) the client's ${words.name} for ${subject} (${client}): ${until}, ${words.opened(subject, role)}`];
  }
  // Where the session sends it: the rule's own target, else the role of the request that opened the session.
  const roleOf = (to: string): string => (to in site.pools ? to : (FORMATS[config.preset].optionalRoles[to] ?? to));
  const opening = [...new Set([...config.rules, ...FORMATS[config.preset].rules].filter((r) => r.session === 'open').map((r) => roleOf(r.to)))];
  const to = decision.session.followTo ?? (opening.length === 1 ? opening[0]! : `${opening.join(' or ')}, the role of the request that opened it`);
  return [
    `inside a ${words.name} of ${subject} by the same client (${client}; ` +
      `opened by ${words.openedBy} within the last ${idle} s): ${words.followed(to)}, pinned to its server, logged as role "session"`,
    `otherwise (${words.otherwise(accept)}): ${role}`,
  ];
}

/** A local answer in words: the bootstrap script and CA, the HTTPS redirect, a static folder. */
function localText(config: Config, local: Local): string {
  switch (local.which) {
    case 'bootstrap':
      return `answered by the router: the client bootstrap script (rendered for ${local.url.host}); nothing is forwarded`;
    case 'ca':
      return `answered by the router: the CA certificate ${config.caCert}; nothing is forwarded`;
    case 'redirect':
      return `${local.status} redirect to ${local.location} (httpsRedirect); nothing is forwarded`;
    case 'static':
      return `answered by the router from the folder ${local.mount.dir} (static "${local.mount.prefix || '/'}"; 404 when no such file); nothing is forwarded`;
  }
}
