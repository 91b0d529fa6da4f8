import { describe, expect, it } from 'vitest';
import { HeaderFields, plainFields, responseOf } from '../src/header-fields.ts';

describe('HeaderFields', () => {
  it('looks fields up case-insensitively and joins repeated ones as Headers does', () => {
    const fields = new HeaderFields();
    fields.append('Accept', 'a');
    fields.append('accept', 'b');
    fields.set('X-One', '  1 ');
    expect(fields.get('ACCEPT')).toBe('a, b');
    expect(fields.get('x-one')).toBe('1');
    expect(fields.has('X-ONE')).toBe(true);
    fields.delete('Accept');
    expect(fields.get('accept')).toBeNull();
    expect([...fields]).toEqual([['x-one', '1']]);
  });

  it('keeps each Set-Cookie apart and gives them back as a Headers when there are several', () => {
    const fields = HeaderFields.fromParsed({ 'Set-Cookie': ['a=1', 'b=2'], Location: '/x', skipped: undefined });
    expect(fields.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(fields.get('set-cookie')).toBe('a=1, b=2');
    const init = fields.toInit();
    expect(init).toBeInstanceOf(Headers);
    expect((init as Headers).getSetCookie()).toEqual(['a=1', 'b=2']);
    fields.set('set-cookie', 'c=3');
    expect(fields.toInit()).toEqual({ location: '/x', 'set-cookie': 'c=3' });
  });

  it('refuses what Headers refuses: names that are not tokens, values with CR, LF or NUL', () => {
    const fields = new HeaderFields();
    expect(() => fields.set('bad name', 'x')).toThrow(TypeError);
    expect(() => fields.set('x-injected', 'a\r\nx-evil: 1')).toThrow(TypeError);
    expect(() => fields.append('x-nul', 'a\0')).toThrow(TypeError);
    expect([...fields.keys()]).toEqual([]);
  });

  it('copies a Headers with its cookies and passes as a Headers to the passes', () => {
    const source = new Headers([
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    const copy = HeaderFields.from(source);
    copy.delete('content-type');
    expect(source.get('content-type')).toBe('text/plain');
    expect(copy.getSetCookie()).toEqual(['a=1', 'b=2']);
    const seen: string[] = [];
    copy.forEach((value, name) => seen.push(`${name}: ${value}`));
    expect(seen).toEqual(['set-cookie: a=1', 'set-cookie: b=2']);
    expect(HeaderFields.from(copy).getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('builds a Response from a plain object, marked as such', async () => {
    const fields = HeaderFields.fromParsed({ 'content-type': 'application/json', etag: '"1"' });
    const response = responseOf('{}', 201, 'Created', fields);
    expect(plainFields(response)).toBe(true);
    expect(response.status).toBe(201);
    expect(response.headers.get('etag')).toBe('"1"');
    expect(await response.text()).toBe('{}');
    expect(plainFields(responseOf(null, 204, '', new Headers()))).toBe(false);
  });
});

describe('HeaderFields.fromRaw', () => {
  it('reads node:http rawHeaders: names lowercased, repeats joined, cookies apart, pseudo-fields left out', () => {
    const fields = HeaderFields.fromRaw([':path', '/x', 'Host', 'a.test', 'Accept', 'a', 'ACCEPT', 'b', 'Set-Cookie', 'x=1', 'set-cookie', 'y=2']);
    expect([...fields]).toEqual([
      ['host', 'a.test'],
      ['accept', 'a, b'],
      ['set-cookie', 'x=1'],
      ['set-cookie', 'y=2'],
    ]);
  });
});
