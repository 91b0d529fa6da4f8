import type { RuleConfig } from '../config/schema.ts';
import { compilePathPattern } from './pattern.ts';

export type Role = 'read' | 'write';
/** Where a rule sends a request: an upstream role, or `deny` (answered by the router, never forwarded). */
export type Target = Role | 'deny';

export interface Rule {
  readonly source: RuleConfig;
  readonly target: Target;
  matches(method: string, path: string, query: URLSearchParams): boolean;
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
  };
}

export function pickRole(rules: readonly Rule[], method: string, path: string, query: URLSearchParams): Target {
  for (const rule of rules) if (rule.matches(method, path, query)) return rule.target;
  // Unreachable with a preset (each ends in a catch-all); writes are the safe default.
  return 'write';
}
