import type { RuleConfig } from '../config/schema.ts';
import { acceptShape } from './accept.ts';
import { compilePathPattern, subjectOf } from './pattern.ts';

/**
 * A name for one of a site's upstreams (or pools). Every site has `read` (the group) and `write`
 * (the hosted repository); a preset may route to more (Maven's `snapshots`), each mapped by the
 * site's `upstreams` or, when the site leaves it out, by the preset to a role it has.
 */
export type Role = string;
/** Where a rule sends a request: an upstream role, or `deny` (answered by the router, never forwarded). */
export type RuleTarget = Role | 'deny';

export interface Rule {
  readonly source: RuleConfig;
  readonly target: RuleTarget;
  /** Requests of one subject go to one server of the role's pool (rendezvous hashing), never retried elsewhere. */
  readonly pin: boolean;
  /** `open`: the request opens or renews the client's push session for its subject; `follow`: inside one, it goes where the session writes. */
  readonly session: 'open' | 'follow' | undefined;
  /** With `session: "follow"`: where to go inside a session, when not where the session writes. */
  readonly followTo: Role | undefined;
  /** URLs in the JSON answer that point into an upstream are mapped to the public name (npm packuments). */
  readonly mapUrls: boolean;
  /**
   * The path sent upstream: `stripPrefix` taken off when the path starts with it as whole segments (`/api/v2/package/x` →
   * `/x`, `/api/v2/package` → `/`); undefined: the request's own path.
   */
  upstreamPath(path: string): string | undefined;
  /** `accept`: the request's Accept header (null or left out: none), for rules with `accept` (see rules/accept.ts). */
  matches(method: string, path: string, query: URLSearchParams, accept?: string | null): boolean;
  /** What the path's first `**` matched (the docker repository name), if the rule has one. */
  subject(path: string): string | undefined;
}

/**
 * Builds a matcher. `aliases` resolve every other name a rule may use to a role of the site: the
 * preset's `ping` and `token`, the site's extra roles (to themselves), optional preset roles the
 * site did not configure (to their fallback). `read`, `write` and `deny` are always known.
 */
export function compileRule(source: RuleConfig, aliases: Readonly<Record<string, Role>>): Rule {
  const target: RuleTarget | undefined = source.to === 'read' || source.to === 'write' || source.to === 'deny' ? source.to : aliases[source.to];
  if (!target) throw new Error(`rule target "${source.to}" is not a role (read, write, deny, ${Object.keys(aliases).join(', ')})`);
  const methods = source.methods && new Set(source.methods);
  const path = source.path === undefined ? undefined : compilePathPattern(source.path);
  const query = source.query && Object.entries(source.query);
  return {
    source,
    target,
    pin: source.pin ?? false,
    session: source.session,
    mapUrls: source.mapUrls ?? false,
    upstreamPath: (requestPath) => {
      const prefix = source.stripPrefix;
      if (prefix === undefined || !requestPath.startsWith(prefix)) return undefined;
      const rest = requestPath.slice(prefix.length);
      if (rest !== '' && !rest.startsWith('/')) return undefined;
      return rest || '/';
    },
    followTo:
      source.followTo === undefined
        ? undefined
        : (aliases[source.followTo] ?? (source.followTo === 'read' || source.followTo === 'write' ? source.followTo : undefined)),
    matches(method, requestPath, params, accept) {
      if (methods && !methods.has(method)) return false;
      if (source.accept && acceptShape(accept) !== source.accept) return false;
      if (path && !path.test(requestPath)) return false;
      if (query) {
        for (const [name, expected] of query) {
          const actual = params.get(name);
          if (actual === null || (expected !== true && actual !== expected)) return false;
        }
      }
      return true;
    },
    subject: (requestPath) => (path ? subjectOf(path, requestPath) : undefined),
  };
}

/** The first rule that matches, or undefined (a preset ends in a catch-all, so only bare rule lists get here). */
export function pickRule(rules: readonly Rule[], method: string, path: string, query: URLSearchParams, accept?: string | null): Rule | undefined {
  for (const rule of rules) if (rule.matches(method, path, query, accept)) return rule;
  return undefined;
}

export function pickRole(rules: readonly Rule[], method: string, path: string, query: URLSearchParams): RuleTarget {
  // Writes are the safe default when nothing matches.
  return pickRule(rules, method, path, query)?.target ?? 'write';
}
