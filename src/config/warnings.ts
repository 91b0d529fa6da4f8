import { poolServers, type UpstreamPoolConfig } from './ha.ts';
import { realIpWarnings } from './real-ip.ts';
import type { Config } from './schema.ts';
import { v2Root } from './site-checks.ts';
import { FORMATS } from '../formats/index.ts';

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
 * refused. An upstream URL ending in `/v2/` on a site that is not a docker site (a docker site
 * refuses it: config/site-checks.ts): the router appends the client's whole path, so a client that
 * speaks the registry API there would send `/v2/v2/…`. A rule path that looks like a regular
 * expression: rule paths are globs, and `/v2/.*` matches no request.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const { field, site, url } of upstreamFields(config)) {
    // A format whose requests start with /v2/ refuses such a URL instead (config/site-checks.ts).
    const root = FORMATS[config.sites[site]!.preset].apiPrefix === '/v2/' ? undefined : v2Root(url);
    if (root !== undefined) {
      warnings.push(
        `${field}: ${url} ends in /v2/, but the router appends the client's path to the upstream URL, so a registry client's /v2/… ` +
          `would go to …/v2/v2/…; give the repository root instead: ${root}`,
      );
    }
  }
  config.sites.forEach((site, i) => {
    site.rules.forEach((rule, r) => {
      if (rule.path === undefined || !looksLikeRegex(rule.path)) return;
      const glob = globFor(rule.path);
      warnings.push(
        `sites[${i}].rules[${r}].path: ${JSON.stringify(rule.path)} looks like a regular expression, but rule paths are globs ` +
          '(* is one path segment, ** any run of characters, / included; everything else is literal), so this rule matches no request' +
          (glob ? `; as a glob: ${JSON.stringify(glob)}` : '; write it as a glob'),
      );
    });
  });
  config.sites.forEach((site, i) => {
    const same = sameReadWrite(site, i);
    if (same) warnings.push(same);
  });
  warnings.push(...realIpWarnings(config.realIp));
  return warnings;
}

/**
 * A site of a read/write preset (every one but generic) whose writes go where its reads go: for Nexus that is a
 * group, which refuses writes (Nexus OSS cannot write to a group), so pushes fail. Warned when `upstreams.read` and
 * `upstreams.write` name the same servers, or when the one `upstream` names a Nexus repository (`/repository/<name>/`;
 * a docker site may front one plain registry). The suggested write URL is the read URL with "group" → "hosted".
 */
function sameReadWrite(site: Config['sites'][number], i: number): string | undefined {
  if (site.preset === 'generic') return undefined;
  const urls = (pool: UpstreamPoolConfig) => {
    const { servers, backup } = poolServers(pool);
    return JSON.stringify([servers, backup].map((list) => list.map((url) => url.replace(/\/+$/, ''))));
  };
  const read = site.upstreams?.read ?? site.upstream;
  if (read === undefined) return undefined;
  // Shown without credentials (`http://user:pass@nexus…`): warnings go to logs.
  const readUrl = (poolServers(read).servers[0] ?? '').replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1');
  const hosted = /group/i.test(readUrl) ? `, e.g. ${readUrl.replace(/group/i, 'hosted')}` : '';
  const writes = FORMATS[site.preset].roleWords?.write;
  const what = `every write of this ${site.preset} site${writes ? ` (${writes})` : ''} goes to the upstream that serves reads`;
  const refused = 'Nexus refuses writes to a group repository';
  if (site.upstreams) {
    const write = site.upstreams.write;
    if (write === undefined || urls(write) !== urls(read)) return undefined;
    return (
      `sites[${i}].upstreams.write is the same URL as sites[${i}].upstreams.read (${readUrl}): ${what}, and ${refused}; ` +
      `set "write" to the hosted repository${hosted}`
    );
  }
  if (!/\/repository\/[^/]+/.test(readUrl)) return undefined;
  return (
    `sites[${i}].upstream names one Nexus repository (${readUrl}) for reads and writes: ${what}, and ${refused}; ` +
    `give "upstreams": { "read": the group, "write": the hosted repository${hosted} }`
  );
}

/**
 * Regular-expression syntax in a rule path: anchors, groups, alternation, classes, escapes,
 * quantifiers after a dot or a class, `?` (never part of a path: it starts the query). `/file.*`
 * is a glob (`file.` and one segment's worth) and passes.
 */
export function looksLikeRegex(path: string): boolean {
  return /^\^|\$$|[()|\\?[\]]|(^|\/)\.\*|\.\*\.\*|\.\+|\{\d+(,\d*)?\}/.test(path);
}

/** The glob a regex-looking path most likely meant, or undefined when it has no glob (alternations). */
export function globFor(path: string): string | undefined {
  const glob = path
    .replace(/^\^/, '')
    .replace(/\$$/, '')
    .replace(/\[\^\/\][+*]/g, '*')
    .replace(/(\\[dw]|\[[^\]]*\])[+*]/g, '*')
    .replace(/\.[*+]/g, '**')
    .replace(/\/\?$/, '')
    .replace(/\\([./-])/g, '$1')
    .replace(/\*{3,}/g, '**');
  return glob.startsWith('/') && !looksLikeRegex(glob) ? glob : undefined;
}
