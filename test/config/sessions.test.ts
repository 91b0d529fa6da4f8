/**
 * `"sessions": { "redis": … }`: the field's checks (config/sessions.ts), the worker's refusal, the
 * warning `check` gives when workers spread one client over processes without it, and `check
 * --probe` PINGing a real `redis-server` (and one that is not there) on Node, Bun and Deno.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { sessionsWarnings } from '../../src/config/sessions.ts';
import { workerProblems } from '../../src/config/worker.ts';
import { BUN_NODE, DENO, DOCKER_SITE, files, ROOT, run } from '../cli/support.ts';
import { freePort } from '../support/ports.ts';
import { startRedis, stopRedis, type RedisProcess } from '../support/redis.ts';

const site = { name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://g:8082', write: 'http://h:8083' } } as const;
const problems = (sessions: unknown): string[] => {
  try {
    parseConfig({ sites: [site], sessions });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
};

describe('the sessions field', () => {
  it('takes a redis:// or rediss:// URL, with defaults for the prefix and the timeout', () => {
    expect(parseConfig({ sites: [site], sessions: { redis: 'redis://redis:6379/0' } }).sessions).toEqual({
      redis: 'redis://redis:6379/0',
      keyPrefix: 'registry-router:',
      timeout: 200,
    });
    expect(parseConfig({ sites: [site], sessions: { redis: 'rediss://:pw@redis.example.com/3', timeout: 50 } }).sessions?.timeout).toBe(50);
    expect(parseConfig({ sites: [site] }).sessions).toBeUndefined();
  });

  it('names the field and the fix for a wrong value', () => {
    expect(problems({ redis: 'http://redis:6379' })).toEqual([expect.stringMatching(/^sessions\.redis: must be a redis:\/\/ or rediss:\/\/ URL .*got "http/)]);
    expect(problems({ redis: 'redis:6379' })[0]).toMatch(/^sessions\.redis: names no host; .* \(add the scheme: "redis:\/\/redis:6379"\)$/);
    expect(problems({ redis: 'redis://redis:6379/cache' })[0]).toMatch(/^sessions\.redis: the path is the database number/);
    expect(problems({ redis: 'redis://redis:6379/0', timeout: 60_000 })[0]).toMatch(
      /^sessions\.timeout: must be a whole number of milliseconds from 1 to 5000/,
    );
    expect(problems({ url: 'redis://redis' })).toEqual(expect.arrayContaining([expect.stringMatching(/^sessions\.redis: /)]));
  });

  it('a worker refuses it (its sessions live in Durable Objects)', () => {
    const config = parseConfig({ sites: [site], sessions: { redis: 'redis://redis:6379/0' } });
    expect(workerProblems(config)).toEqual([expect.stringMatching(/^sessions: a worker keeps push sessions in Durable Objects/)]);
  });

  it('check warns of workers that spread a client over processes without a shared store (Bun, Deno), not on Node or with Redis', () => {
    expect(sessionsWarnings({ workers: 4 }, 'bun')).toEqual([
      expect.stringMatching(/^workers: 4 bun processes spread one client's connections .* add "sessions"/),
    ]);
    expect(sessionsWarnings({ workers: 2 }, 'deno')).toHaveLength(1);
    expect(sessionsWarnings({ workers: 2 }, 'bun-node')).toHaveLength(1);
    expect(sessionsWarnings({ workers: 4 }, 'node')).toEqual([]);
    expect(sessionsWarnings({ workers: 1 }, 'bun')).toEqual([]);
    expect(sessionsWarnings({ workers: 4, sessions: { redis: 'redis://r:6379/0', keyPrefix: '', timeout: 200 } }, 'bun')).toEqual([]);
  });
});

describe('check with sessions', () => {
  let redis: RedisProcess;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    const nowhere = await freePort();
    // health off: only the sessions line is under test (the upstreams are not there).
    const docker = { ...DOCKER_SITE, health: { checks: false } };
    dir = files({
      'up.json': JSON.stringify({ sites: [docker], sessions: { redis: redis.url } }),
      'down.json': JSON.stringify({ sites: [docker], sessions: { redis: `redis://127.0.0.1:${nowhere}/0`, timeout: 300 } }),
      'spread.json': JSON.stringify({ sites: [docker], workers: 2 }),
    });
  });
  afterAll(() => stopRedis(redis));

  for (const [name, command] of [
    ['node', [process.execPath, '--import', 'tsx', join(ROOT, 'src/node.ts')]],
    ['bun-node', BUN_NODE],
    ['deno', DENO],
  ] as const) {
    it(`--probe PINGs the store (${name}): PONG, or no answer and exit 2`, async () => {
      const up = await run(command, ['check', '--config', join(dir, 'up.json'), '--probe']);
      expect(up.stdout).toMatch(new RegExp(`^probe sessions  PING redis://127\\.0\\.0\\.1:${redis.port}/0  → PONG in [\\d.]+ ms`, 'm'));
      const down = await run(command, ['check', '--config', join(dir, 'down.json'), '--probe']);
      expect(down.stdout).toMatch(/^probe sessions {2}PING redis:\/\/127\.0\.0\.1:\d+\/0 {2}→ no answer: .*ECONNREFUSED/m);
      expect(down.stdout).toContain('the sessions store did not answer');
      expect(down.code).toBe(2);
    });
  }

  it('check --runtime bun warns of workers: 2 without a shared store', async () => {
    const { stdout, code } = await run(BUN_NODE, ['check', '--config', join(dir, 'spread.json'), '--runtime', 'bun']);
    expect(stdout).toMatch(/^warning: workers: 2 bun processes spread one client's connections/m);
    expect(code).toBe(0);
  });
});
