import type { SiteConfig } from '../config/schema.ts';
import { presets } from '../rules/presets.ts';
import { compileRule, pickRole, type Role, type Rule } from '../rules/rule.ts';
import { Upstream } from '../upstream/upstream.ts';
import { compileHostPattern, type HostMatcher } from './host.ts';

/** How a site's router-made errors are written: docker clients print `errors[0].message`. */
export type ErrorFormat = 'registry' | 'plain';

export interface Site {
  readonly name: string;
  readonly errorFormat: ErrorFormat;
  readonly maxBodySize: number;
  readonly preserveHost: boolean;
  readonly upstreams: Readonly<Record<Role, Upstream>>;
  servesHost(host: string): boolean;
  route(method: string, path: string, query: URLSearchParams): Role;
}

export function compileSite(config: SiteConfig): Site {
  const aliases: Record<string, Role> = { ping: config.ping, token: config.token };
  const rules: Rule[] = [...config.rules, ...presets[config.preset]].map((rule) => compileRule(rule, aliases));
  const hostMatchers: HostMatcher[] = config.hosts.map(compileHostPattern);
  const urls = config.upstreams ?? { read: config.upstream!, write: config.upstream! };
  const read = new Upstream(urls.read);
  const write = urls.write === urls.read ? read : new Upstream(urls.write);
  return {
    name: config.name,
    errorFormat: config.preset === 'docker' ? 'registry' : 'plain',
    maxBodySize: config.maxBodySize,
    preserveHost: config.preserveHost,
    upstreams: { read, write },
    servesHost: (host) => hostMatchers.some((matches) => matches(host)),
    route: (method, path, query) => pickRole(rules, method, path, query),
  };
}

/** Virtual hosting: the first site (in config order) whose hosts match. */
export function siteFinder(sites: readonly Site[]): (host: string) => Site | undefined {
  return (host) => sites.find((site) => site.servesHost(host));
}
