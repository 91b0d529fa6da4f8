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
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(options.url) ? options.url : `http://${options.url}`);
  } catch {
    output.err(`registry-router: "${options.url}" is not a URL (give the one the client uses, e.g. http://idocker.io/v2/)\n`);
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    output.err(`registry-router: "${options.url}" is not an http(s) URL\n`);
    return false;
  }
  for (const [label, value] of explainRoute(config, method, url)) output.out(`${label.padEnd(9)} ${value}\n`);
  return true;
}

/** The explanation as label/value lines (the command prints them aligned). */
export function explainRoute(config: Config, method: string, url: URL): Array<[string, string]> {
  const lines: Array<[string, string]> = [['request', `${method} ${url.href}`]];
  const index = config.sites.findIndex((site) => compileSite(site).servesHost(url.host));
  if (index < 0) {
    const hosts = config.sites.flatMap((site) => site.hosts);
    lines.push(['answer', `421: no site serves the host ${url.host} (sites serve: ${hosts.join(', ')}); nothing is forwarded`]);
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

  const rule = site.rule(method, url.pathname, url.searchParams);
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
  for (const note of sessionNotes(site, siteConfig, rule, subject, target)) lines.push(['session', note]);
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

function sessionNotes(site: Site, config: SiteConfig, rule: Rule | undefined, subject: string | undefined, role: string): string[] {
  if (!rule?.session || subject === undefined) return [];
  if (!site.sessions) return ['push sessions are off on this site (pushSessions.idle is 0)'];
  const idle = config.pushSessions.idle;
  if (rule.session === 'open') {
    return [
      `opens (or renews) the client's push session for ${subject}: the client is its address plus its credentials; until ${idle} s after its last such request, that client's manifest HEADs of ${subject} go to ${role}, pinned (containerd asks "is this tag there?" before its manifest PUT)`,
    ];
  }
  const to = rule.followTo ?? 'the role its session writes to (write)';
  return [
    `inside a push session of ${subject} by the same client (address + credentials, opened by an upload or blob HEAD within the last ${idle} s): goes to ${to}, pinned to the push's server, logged as role "session"`,
    `otherwise (other clients, no push in progress): ${role}`,
  ];
}

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
