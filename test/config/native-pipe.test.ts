/**
 * `"nativePipe"`: Bun.serve hands large fixed-length upstream answers over untouched
 * (src/forward/native-pipe.ts). Off by default, because Bun tells nothing of how such a body ended
 * (an upstream that breaks off would be logged as complete: test/e2e/ha.test.ts checks the default on Bun).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } } as const;
const problems = (nativePipe: unknown): string[] => {
  try {
    parseConfig({ sites: [site], nativePipe });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
};

describe('the nativePipe field', () => {
  it('is off unless set; true takes 1 MiB and 256 KiB/s; sizes are read as maxBodySize is', () => {
    expect(parseConfig({ sites: [site] }).nativePipe).toBeUndefined();
    expect(parseConfig({ sites: [site], nativePipe: false }).nativePipe).toBeUndefined();
    expect(parseConfig({ sites: [site], nativePipe: true }).nativePipe).toEqual({ minSize: 1024 * 1024, floorRate: 256 * 1024 });
    expect(parseConfig({ sites: [site], nativePipe: { minSize: '16m', floorRate: '64k' } }).nativePipe).toEqual({
      minSize: 16 * 1024 * 1024,
      floorRate: 64 * 1024,
    });
  });

  it('refuses other values, naming the field', () => {
    expect(problems('yes').join('\n')).toMatch(/^nativePipe: must be true, false, or \{ "minSize"/);
    expect(problems({ floorRate: 0 }).join('\n')).toMatch(/nativePipe\.floorRate: must be more than 0 bytes per second/);
    expect(problems({ floorrate: '1m' }).join('\n')).toMatch(/nativePipe/);
  });
});
