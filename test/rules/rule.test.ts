import { describe, expect, it } from 'vitest';
import { compilePathPattern } from '../../src/rules/pattern.ts';
import { presets } from '../../src/rules/presets.ts';
import { compileRule, pickRole, type Role, type RuleTarget } from '../../src/rules/rule.ts';

const D = 'sha256:' + 'a'.repeat(64);

describe('path patterns', () => {
  it('matches one segment with * and any depth with **', () => {
    expect(compilePathPattern('/v2/*/tags').test('/v2/app/tags')).toBe(true);
    expect(compilePathPattern('/v2/*/tags').test('/v2/team/app/tags')).toBe(false);
    expect(compilePathPattern('/v2/**/tags').test('/v2/team/app/tags')).toBe(true);
    expect(compilePathPattern('/a.b').test('/aXb')).toBe(false);
  });
});

describe('docker preset', () => {
  const route = (method: string, target: string, aliases: Record<string, Role> = { ping: 'read', token: 'read' }): RuleTarget => {
    const url = new URL(target, 'http://r');
    return pickRole(
      presets.docker.rules.map((rule) => compileRule(rule, aliases)),
      method,
      url.pathname,
      url.searchParams,
    );
  };

  it.each([
    ['GET', '/v2/', 'read'],
    ['HEAD', '/v2/team/app/manifests/latest', 'read'],
    ['GET', `/v2/team/app/manifests/${D}`, 'read'],
    ['GET', `/v2/a/b/c/blobs/${D}`, 'read'],
    ['GET', '/v2/team/app/tags/list?n=10', 'read'],
    ['GET', '/v2/_catalog', 'read'],
    // a push: blob existence check, upload session, manifest
    ['HEAD', `/v2/team/app/blobs/${D}`, 'write'],
    ['POST', '/v2/team/app/blobs/uploads/', 'write'],
    ['POST', `/v2/team/app/blobs/uploads/?mount=${D}&from=base`, 'write'],
    ['PATCH', '/v2/team/app/blobs/uploads/6f1c-uuid?_state=x', 'write'],
    ['GET', '/v2/team/app/blobs/uploads/6f1c-uuid', 'write'],
    ['PUT', `/v2/team/app/blobs/uploads/6f1c-uuid?digest=${D}`, 'write'],
    ['PUT', '/v2/team/app/manifests/1.0', 'write'],
    ['DELETE', `/v2/team/app/manifests/${D}`, 'write'],
  ] as const)('%s %s → %s', (method, target, role) => {
    expect(route(method, target)).toBe(role);
  });

  it('sends the ping and token requests where the site says', () => {
    expect(route('GET', '/v2/', { ping: 'write', token: 'read' })).toBe('write');
    expect(route('GET', '/v2/token?scope=x', { ping: 'read', token: 'write' })).toBe('write');
  });
});

describe('generic preset and user rules', () => {
  const rules = (extra: Parameters<typeof compileRule>[0][]) => [...extra, ...presets.generic.rules].map((rule) => compileRule(rule, {}));
  it('reads with GET/HEAD, writes otherwise', () => {
    expect(pickRole(rules([]), 'GET', '/x', new URLSearchParams())).toBe('read');
    expect(pickRole(rules([]), 'POST', '/x', new URLSearchParams())).toBe('write');
  });
  it('lets a user rule match on query before the preset', () => {
    const r = rules([{ methods: ['GET'], path: '/**', query: { write: 'true' }, to: 'write' }]);
    expect(pickRole(r, 'GET', '/pkg', new URLSearchParams('write=true'))).toBe('write');
    expect(pickRole(r, 'GET', '/pkg', new URLSearchParams('write=false'))).toBe('read');
    const present = rules([{ query: { token: true }, to: 'write' }]);
    expect(pickRole(present, 'GET', '/', new URLSearchParams('token='))).toBe('write');
  });
  it('denies what a deny rule matches', () => {
    const r = rules([{ methods: ['DELETE'], to: 'deny' }]);
    expect(pickRole(r, 'DELETE', '/v2/a/manifests/1', new URLSearchParams())).toBe('deny');
    expect(pickRole(r, 'PUT', '/v2/a/manifests/1', new URLSearchParams())).toBe('write');
  });
  it('refuses an unknown role name', () => {
    expect(() => compileRule({ to: 'group' }, {})).toThrow(/not a role/);
  });
});
