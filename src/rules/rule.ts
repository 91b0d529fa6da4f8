import type { RuleConfig } from '../config/schema.ts';
import { compilePathPattern, subjectOf } from './pattern.ts';

export type Role = 'read' | 'write';
/** Where a rule sends a request: an upstream role, or `deny` (answered by the router, never forwarded). */
export type Target = Role | 'deny';

export interface Rule {
  readonly source: RuleConfig;
  readonly target: Target;
  /** Requests of one subject go to one server of the role's pool (rendezvous hashing), never retried elsewhere. */
  readonly pin: boolean;
  /** `open`: the request opens or renews the client's push session for its subject; `follow`: inside one, it goes where the session writes. */
  readonly session: 'open' | 'follow' | undefined;
  matches(method: string, path: string, query: URLSearchParams): boolean;
  /** What the path's first `**` matched (the docker repository name), if the rule has one. */
  subject(path: string): string | undefined;
}

/** Builds a matcher; `aliases` resolve preset roles such as `ping` to the site's choice. */
export function compileRule(source: RuleConfig, aliases: Readonly<Record<string, Role>>): Rule {
  const target: Target | undefined = source.to === 'read' || source.to === 'write' || source.to === 'deny' ? source.to : aliases[source.to];
  if (!target) throw new Error(`rule target "${source.to}" is not a role (read, write, deny, ${Object.keys(aliases).join(', ')})`);
  const methods = source.methods && new Set(source.methods);
  const path = source.path === undefined ? undefined : compilePathPattern(source.path);
  const query = source.query && Object.entries(source.query);
  return {
    source,
    target,
    pin: source.pin ?? false,
    session: source.session,
    matches(method, requestPath, params) {
      if (methods && !methods.has(method)) return false;
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
export function pickRule(rules: readonly Rule[], method: string, path: string, query: URLSearchParams): Rule | undefined {
  for (const rule of rules) if (rule.matches(method, path, query)) return rule;
  return undefined;
}

export function pickRole(rules: readonly Rule[], method: string, path: string, query: URLSearchParams): Target {
  // Writes are the safe default when nothing matches.
  return pickRule(rules, method, path, query)?.target ?? 'write';
}
