import type { SiteConfig } from '../config/schema.ts';
import { FORMATS, type Format } from '../formats/index.ts';
import { compileRule, pickRole, pickRule, type Role, type Rule, type RuleTarget } from '../rules/rule.ts';
import { healthSettings, type HealthSettings } from '../upstream/health.ts';
import { compilePools, type RolePools, type Server } from '../upstream/pool.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ErrorFormat } from '../errors.ts';
import { compileHostPattern, type HostMatcher } from './host.ts';
import { PushSessions, type SessionStore } from './push-sessions.ts';
import type { UploadSeal } from '../edge/uploads.ts';

export interface Site {
  readonly name: string;
  /** The site's format (src/formats/): what the compiled parts below were made from, for passes that ask it more. */
  readonly format: Format;
  /** The format's error format (errors.ts). */
  readonly errorFormat: ErrorFormat;
  readonly maxBodySize: number;
  readonly preserveHost: boolean;
  readonly forwardedHost: boolean;
  /** Each role's first primary (the upstream when the role has one server; failover picks per request). */
  readonly upstreams: { readonly read: Upstream; readonly write: Upstream; readonly [role: string]: Upstream };
  /** Every server of every pool once, longest path prefix first (for mapping URLs back). */
  readonly upstreamsByPrefix: readonly Upstream[];
  /** Each role's servers: primaries and backups, with their health (see upstream/pool.ts). */
  readonly pools: RolePools;
  /** Every distinct server of the site once (health checks, metrics). */
  readonly servers: readonly Server[];
  readonly health: HealthSettings;
  /** Writes may go to backups when no primary is healthy. */
  readonly writeToBackup: boolean;
  /** Direct uploads (edge or origin side), when configured; set by the app, which knows the environment. */
  readonly uploads?: UploadSeal;
  /** Push sessions of this site's clients; undefined when `pushSessions.idle` is 0. */
  readonly sessions: SessionStore | undefined;
  servesHost(host: string): boolean;
  /** The target of the first matching rule (`write` when none matches). */
  route(method: string, path: string, query: URLSearchParams): RuleTarget;
  /** The first matching rule itself (its subject, pinning and session part), or undefined. */
  rule(method: string, path: string, query: URLSearchParams, accept?: string | null): Rule | undefined;
}

export function compileSite(config: SiteConfig): Site {
  const urls = config.upstreams ?? { read: config.upstream!, write: config.upstream! };
  const preset = FORMATS[config.preset];
  // What rules may name besides read/write/deny: the site's own roles, the format's optional roles
  // (their fallback when the site leaves them out), and the docker `ping`/`token` choices.
  const aliases: Record<string, Role> = {
    ...preset.optionalRoles,
    ...Object.fromEntries(Object.keys(urls).map((role) => [role, role])),
    ping: config.ping,
    token: config.token,
  };
  const rules: Rule[] = [...config.rules, ...preset.rules].map((rule) => compileRule(rule, aliases));
  const hostMatchers: HostMatcher[] = config.hosts.map(compileHostPattern);
  const health = healthSettings(config.health, preset);
  const { pools, servers } = compilePools(config.name, urls, { backoffMs: health.backoffMs, checked: health.checks });
  return {
    name: config.name,
    format: preset,
    errorFormat: preset.errorFormat,
    maxBodySize: config.maxBodySize,
    preserveHost: config.preserveHost,
    forwardedHost: config.forwardedHost,
    upstreams: Object.fromEntries(Object.entries(pools).map(([role, pool]) => [role, pool.primaries[0]!.upstream])) as Site['upstreams'],
    upstreamsByPrefix: servers.map((server) => server.upstream).sort((a, b) => b.prefix.length - a.prefix.length),
    pools,
    servers,
    health,
    writeToBackup: config.writeToBackup,
    sessions: config.pushSessions.idle > 0 ? new PushSessions(config.pushSessions.idle * 1000, config.pushSessions.max) : undefined,
    servesHost: (host) => hostMatchers.some((matches) => matches(host)),
    route: (method, path, query) => pickRole(rules, method, path, query),
    rule: (method, path, query, accept) => pickRule(rules, method, path, query, accept),
  };
}

/**
 * Virtual hosting: the first site (in config order) whose hosts match. Answers are remembered per
 * Host value (a registry sees a handful); the memory is dropped whole past 256 names, so a client
 * sending made-up Hosts cannot grow it.
 */
export function siteFinder(sites: readonly Site[]): (host: string) => Site | undefined {
  const known = new Map<string, Site | undefined>();
  return (host) => {
    if (known.has(host)) return known.get(host);
    if (known.size >= 256) known.clear();
    const site = sites.find((candidate) => candidate.servesHost(host));
    known.set(host, site);
    return site;
  };
}
