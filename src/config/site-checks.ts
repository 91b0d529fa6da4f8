/**
 * Checks of a site, and of the sites together, that need more than one field: which roles are
 * routed to, docker upstream URLs ending in `/v2/`, host names given as URLs, two sites with one
 * name or one host. Each returns `{ path, message }` for schema.ts to add as a zod issue; they read
 * the site defensively, since some run on a site whose other fields failed to parse (so that one
 * run of `check` names every problem).
 */
import { FORMATS, formatOf, isFormatName, type FormatName } from '../formats/index.ts';
import { splitHost } from '../site/host.ts';
import { nearest } from './issues.ts';

export interface SiteIssue {
  path: Array<string | number>;
  message: string;
}

/** Roles no rule names but that people mean: Nexus's repository kinds, and Maven's release side. */
const ROLE_ALIASES: Readonly<Record<string, { role: string; why: string }>> = {
  group: { role: 'read', why: 'the group repository is the "read" role' },
  proxy: { role: 'read', why: 'a proxy repository is read through the group, the "read" role' },
  hosted: { role: 'write', why: 'the hosted repository is the "write" role' },
  release: { role: 'write', why: 'the releases repository is the "write" role' },
  releases: { role: 'write', why: 'the releases repository is the "write" role' },
};

/** What the site's `upstreams` keys are for, as the error message for a missing one says. */
export const MISSING_ROLE: Readonly<Record<'read' | 'write', string>> = {
  read: 'missing: the group repository\'s URL (reads go there: pulls, installs, downloads), e.g. "http://nexus:8081/repository/<group>/"',
  write: 'missing: the hosted repository\'s URL (writes go there: pushes, publishes, deploys), e.g. "http://nexus:8081/repository/<hosted>/"',
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Every role a request can reach on a site: read and write, the preset's rules (`to`, `followTo`)
 * and optional roles, and the site's own rules. `ping`, `token` and `deny` are not roles.
 */
export function routedRoles(preset: FormatName, rules: readonly unknown[]): string[] {
  const roles = new Set(['read', 'write', ...Object.keys(FORMATS[preset].optionalRoles)]);
  for (const rule of [...FORMATS[preset].rules, ...rules]) {
    if (!isRecord(rule)) continue;
    for (const name of [rule.to, rule.followTo]) if (typeof name === 'string') roles.add(name);
  }
  for (const notARole of ['deny', 'ping', 'token']) roles.delete(notARole);
  return [...roles];
}

/**
 * `upstreams` keys no rule routes to: a misspelt role (`snapshot` on a Maven site sends SNAPSHOT
 * deploys to releases without a word) or Nexus's words for one (`group`, `hosted`).
 */
export function unroutedRoleIssues(site: Record<string, unknown>): SiteIssue[] {
  const preset = site.preset ?? 'generic';
  if (!isRecord(site.upstreams) || !isFormatName(preset)) return [];
  const routed = routedRoles(preset, Array.isArray(site.rules) ? site.rules : []);
  return Object.keys(site.upstreams)
    .filter((role) => !routed.includes(role) && !['deny', 'ping', 'token'].includes(role))
    .map((role) => {
      const alias = ROLE_ALIASES[role.toLowerCase()];
      const guess = alias ? undefined : nearest(role, routed);
      const hint = alias ? ` (did you mean "${alias.role}"? ${alias.why})` : guess ? ` (did you mean "${guess}"?)` : '';
      return {
        path: ['upstreams', role],
        message:
          `no rule routes to a role named "${role}", so this upstream would never be used${hint}; ` +
          `the ${preset} preset routes to ${routed.map((name) => `"${name}"`).join(', ')} (or add a rule with "to": "${role}")`,
      };
    });
}

/** Every URL a site names, with its path under the site: `upstreams.read`, `upstreams.write.servers[1]`, `upstream.backup[0]`. */
function siteUrls(site: Record<string, unknown>): Array<{ path: Array<string | number>; url: string }> {
  const out: Array<{ path: Array<string | number>; url: string }> = [];
  const pool = (path: Array<string | number>, value: unknown) => {
    if (typeof value === 'string') out.push({ path, url: value });
    else if (isRecord(value)) {
      for (const list of ['servers', 'backup']) {
        const urls = value[list];
        if (Array.isArray(urls)) urls.forEach((url, i) => typeof url === 'string' && out.push({ path: [...path, list, i], url }));
      }
    }
  };
  pool(['upstream'], site.upstream);
  if (isRecord(site.upstreams)) for (const [role, value] of Object.entries(site.upstreams)) pool(['upstreams', role], value);
  return out;
}

/**
 * A docker upstream URL ending in `/v2/`: the router appends the client's whole path, so a push of
 * `team/app` reaches `…/v2/v2/team/app/…`, and a registry that takes any name stores it as the
 * repository `v2/team/app`. Refused on docker sites; other sites get a warning (config/warnings.ts).
 */
export function dockerV2Issues(site: Record<string, unknown>): SiteIssue[] {
  // Formats whose every request starts with /v2/ (docker's `apiPrefix`, src/formats/).
  if (formatOf(typeof site.preset === 'string' ? site.preset : undefined).apiPrefix !== '/v2/') return [];
  return siteUrls(site).flatMap(({ path, url }) => {
    const root = v2Root(url);
    if (root === undefined) return [];
    return [
      {
        path,
        message:
          `"${url}" ends in /v2/, but the router appends the client's whole path (/v2/<name>/…) to it: a push of team/app would go to ` +
          `…/v2/v2/team/app/… and land in a repository named "v2/team/app", which pulls of team/app never find; drop the /v2/: give the registry's root ` +
          `("${root}") or Nexus's "/repository/<name>/"`,
      },
    ];
  });
}

/** The URL without its trailing `/v2` or `/v2/`, or undefined when it does not end so (or is no URL). */
export function v2Root(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  return /\/v2\/?$/.test(path) ? url.replace(/\/v2\/?$/, '/') : undefined;
}

/**
 * A `hosts` entry: a name, `*.name`, either with `:port`, or `[IPv6]`. For a URL pasted in its
 * place (`https://idocker.io/`) the message echoes it and gives the name to write instead.
 */
export function hostEntryProblem(value: string): string | undefined {
  if (/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(value)) return undefined;
  const shown = JSON.stringify(value);
  const schemeLess = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '') : value;
  const authority = schemeLess.replace(/^[^/?#@]*@/, '').split(/[/?#]/)[0]!;
  const dropped = [schemeLess !== value && 'the scheme', authority !== schemeLess && 'path']
    .filter(Boolean)
    .join(' and ')
    .replace(/^path$/, 'the path');
  if (dropped && authority && hostEntryProblem(authority) === undefined) {
    return `must be a host name, "*.domain" or host:port, got ${shown}: drop ${dropped}: ${JSON.stringify(authority)}`;
  }
  return `must be a host name, "*.domain" or host:port (e.g. "idocker.io", "*.example.com", "idocker.io:5000"), got ${shown}`;
}

/**
 * Whether every Host that `later` matches is matched by `earlier` already (the first site that
 * matches answers). Compared as the router matches: case and a trailing dot ignored, the port only when given.
 */
function covers(earlier: string, later: string): boolean {
  const a = splitHost(earlier);
  const b = splitHost(later);
  if (a.port !== undefined && a.port !== b.port) return false;
  if (a.name === b.name) return true;
  // `*.example.com` covers `app.example.com` and `*.app.example.com`, not `example.com`.
  if (a.name.startsWith('*.')) {
    const suffix = a.name.slice(1);
    const name = b.name.startsWith('*.') ? b.name.slice(1) : b.name;
    return name.endsWith(suffix) && name.length > suffix.length;
  }
  return false;
}

/**
 * Sites that cannot be told apart or reached: two with one name (logs, metrics and the status page
 * name sites), and a `hosts` entry every request of which an earlier site takes (sites are tried in
 * order and the first whose hosts match answers, as nginx's `server_name` does with duplicates).
 */
export function sitesIssues(sites: ReadonlyArray<{ name: string; hosts: readonly string[] }>): SiteIssue[] {
  const issues: SiteIssue[] = [];
  sites.forEach((site, i) => {
    const first = sites.findIndex((other) => other.name === site.name);
    if (first < i) {
      issues.push({
        path: [i, 'name'],
        message: `"${site.name}" is also the name of sites[${first}]: give each site its own name (logs, metrics and the status page tell sites apart by it)`,
      });
    }
    site.hosts.forEach((host, h) => {
      for (let j = 0; j < i; j++) {
        const taken = sites[j]!.hosts.find((earlier) => covers(earlier, host));
        if (taken === undefined) continue;
        issues.push({
          path: [i, 'hosts', h],
          message:
            `"${host}" is served by sites[${j}] ("${sites[j]!.name}") already${taken === host ? '' : ` (its "${taken}")`}: the first site whose hosts match ` +
            `answers, so this site would never see it; keep it in one site only`,
        });
        break;
      }
    });
  });
  return issues;
}
