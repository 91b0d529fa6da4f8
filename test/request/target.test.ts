import { describe, expect, it } from 'vitest';
import { unsafePath } from '../../src/request/target.ts';
import { ESCAPES, LEGITIMATE } from '../support/path-escapes.ts';

describe('unsafePath', () => {
  it.each(ESCAPES)('refuses %s (%s)', (path) => {
    expect(unsafePath(path)).toBeTypeOf('string');
  });

  it.each(LEGITIMATE)('lets %s through', (path) => {
    expect(unsafePath(path)).toBeUndefined();
  });
});
