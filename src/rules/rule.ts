import type { RuleConfig } from '../config/schema.ts';
import { compilePathPattern } from './pattern.ts';

export type Role = 'read' | 'write';

export interface Rule {
  readonly source: RuleConfig;
  readonly role: Role;
  matches(method: string, path: string, query: URLSearchParams): boolean;
}

/** Builds a matcher; `aliases` resolve preset roles such as `ping` to the site's choice. */
export function compileRule(source: RuleConfig, aliases: Readonly<Record<string, Role>>): Rule {
  const role = source.to === 'read' || source.to === 'write' ? source.to : aliases[source.to];
  if (!role) throw new Error(`rule target "${source.to}" is not a role (read, write, ${Object.keys(aliases).join(', ')})`);
  const methods = source.methods && new Set(source.methods);
  const path = source.path === undefined ? undefined : compilePathPattern(source.path);
  const query = source.query && Object.entries(source.query);
  return {
    source,
    role,
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

export function pickRole(rules: readonly Rule[], method: string, path: string, query: URLSearchParams): Role {
  for (const rule of rules) if (rule.matches(method, path, query)) return rule.role;
  // Unreachable with a preset (each ends in a catch-all); writes are the safe default.
  return 'write';
}
