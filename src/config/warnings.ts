import { poolServers, type UpstreamPoolConfig } from './ha.ts';
import type { Config } from './schema.ts';

/** Every upstream URL of the config with the field that names it: `sites[0].upstreams.read`, `…servers[1]`. */
export function upstreamFields(config: Config): Array<{ field: string; site: number; role: string; url: string }> {
  const out: Array<{ field: string; site: number; role: string; url: string }> = [];
  config.sites.forEach((site, i) => {
    const roles: Array<[string, string, UpstreamPoolConfig]> = site.upstreams
      ? Object.entries(site.upstreams).map(([role, pool]) => [role, `sites[${i}].upstreams.${role}`, pool])
      : site.upstream
        ? [['read+write', `sites[${i}].upstream`, site.upstream]]
        : [];
    for (const [role, field, pool] of roles) {
      if (typeof pool === 'string') {
        out.push({ field, site: i, role, url: pool });
        continue;
      }
      const { servers, backup } = poolServers(pool);
      servers.forEach((url, j) => out.push({ field: `${field}.servers[${j}]`, site: i, role, url }));
      backup.forEach((url, j) => out.push({ field: `${field}.backup[${j}]`, site: i, role, url }));
    }
  });
  return out;
}

/**
 * What is valid but almost surely not meant; printed by `check` and on stderr at start, never
 * refused. An upstream URL is the repository's root: the router appends the client's whole path
 * (`/v2/<name>/manifests/<tag>`), so a URL ending in `/v2/` sends `/v2/v2/…` and every request
 * answers 404.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const { field, url } of upstreamFields(config)) {
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      continue;
    }
    if (/\/v2\/?$/.test(path)) {
      const root = url.replace(/\/v2\/?$/, '/');
      warnings.push(
        `${field}: ${url} ends in /v2/, but the router appends the client's path (/v2/…) to the upstream URL, so requests go to …/v2/v2/… and answer 404; give the repository root instead: ${root}`,
      );
    }
  }
  return warnings;
}
