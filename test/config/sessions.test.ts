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
    const with_ = (extra: Record<string, unknown>, sites: unknown[] = [site]) => parseConfig({ sites, ...extra });
    expect(sessionsWarnings(with_({ workers: 4 }), 'bun')).toEqual([
      expect.stringMatching(/^workers: 4 bun processes spread one client's connections .*containerd push .*\(site docker\); add "sessions"/),
    ]);
    expect(sessionsWarnings(with_({ workers: 2 }), 'deno')).toHaveLength(1);
    expect(sessionsWarnings(with_({ workers: 2 }), 'bun-node')).toHaveLength(1);
    expect(sessionsWarnings(with_({ workers: 4 }), 'node')).toEqual([]);
    expect(sessionsWarnings(with_({ workers: 1 }), 'bun')).toEqual([]);
    expect(sessionsWarnings(with_({ workers: 4, sessions: { redis: 'redis://r:6379/0' } }), 'bun')).toEqual([]);
  });

  it('the warning names only sites that use sessions: Maven deploys, docker pushes; none for NuGet, raw, yum or with push sessions off', () => {
    const maven = {
      name: 'maven',
      hosts: ['maven.test'],
      preset: 'maven',
      upstreams: { read: 'http://g:8081', write: 'http://h:8081', snapshots: 'http://s:8081' },
    };
    const others = ['nuget', 'raw', 'yum', 'generic'].map((preset) => ({
      name: preset,
      hosts: [`${preset}.test`],
      preset,
      upstreams: { read: 'http://g:1', write: 'http://h:1' },
    }));
    expect(sessionsWarnings(parseConfig({ sites: others, workers: 2 }), 'bun')).toEqual([]);
    expect(sessionsWarnings(parseConfig({ sites: [{ ...site, pushSessions: { idle: 0 } }], workers: 2 }), 'bun')).toEqual([]);
    const [warning] = sessionsWarnings(parseConfig({ sites: [...others, maven], workers: 2 }), 'deno');
    expect(warning).toMatch(/Maven metadata can be read from the group during a deploy \(site maven\); add "sessions"/);
    expect(warning).not.toMatch(/containerd|nuget|site raw/);
  });

  it('the URL: any database number (the server says which it has), the scheme hint for host:port', () => {
    expect(problems({ redis: 'redis://redis:6379/99' })).toEqual([]);
    expect(problems({ redis: '127.0.0.1:47379' })[0]).toMatch(
      /^sessions\.redis: must be a redis:.*got "127\.0\.0\.1:47379" \(add the scheme: "redis:\/\/127\.0\.0\.1:47379"\)$/,
    );
    expect(problems({ redis: 'redis://redis:6379/db1' })[0]).toMatch(
      /the path is the database number \(0 to the server's "databases" setting less one; 0-15 by default\)/,
    );
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
      'one.json': JSON.stringify({ sites: [docker] }),
      'db99.json': JSON.stringify({ sites: [docker], sessions: { redis: `redis://127.0.0.1:${redis.port}/99` } }),
      'wrongpass.json': JSON.stringify({ sites: [docker], sessions: { redis: `redis://nobody:wrong@127.0.0.1:${redis.port}/0` } }),
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
      expect(down.stdout).toContain('the sessions store cannot be used as configured');
      expect(down.code).toBe(2);
      // A database the server does not have: SELECT refused (ioredis alone would go on, on database 0).
      const db99 = await run(command, ['check', '--config', join(dir, 'db99.json'), '--probe']);
      expect(db99.stdout).toMatch(
        new RegExp(`^probe sessions  SELECT 99 redis://127\\.0\\.0\\.1:${redis.port}/99  → refused: ERR DB index is out of range; set the database`, 'm'),
      );
      expect(db99.code).toBe(2);
      // A reply of the server is a refusal, not "no answer".
      const wrong = await run(command, ['check', '--config', join(dir, 'wrongpass.json'), '--probe']);
      expect(wrong.stdout).toMatch(/^probe sessions {2}PING redis:\/\/127\.0\.0\.1:\d+\/0 {2}→ refused: WRONGPASS /m);
      expect(wrong.stdout).not.toMatch(/^probe sessions .*no answer/m);
      expect(wrong.code).toBe(2);
    });
  }

  it('check --workers 2 as serve --workers: the warning; --runtime worker says workers is ignored there', async () => {
    const spread = await run(BUN_NODE, ['check', '--config', join(dir, 'one.json'), '--runtime', 'deno', '--workers', '2']);
    expect(spread.stdout).toMatch(/^warning: workers: 2 deno processes spread one client's connections/m);
    expect(spread.code).toBe(0);
    const bad = await run(BUN_NODE, ['check', '--config', join(dir, 'one.json'), '--workers', 'x']);
    expect(bad.stderr).toContain('--workers is a whole number from 1 to 1024');
    expect(bad.code).toBe(2);
    const worker = await run(BUN_NODE, ['check', '--config', join(dir, 'spread.json'), '--runtime', 'worker']);
    expect(worker.stdout).toMatch(/^warning: workers: 2 is ignored by the Cloudflare worker/m);
    expect(worker.stdout).not.toContain('processes spread');
  });

  it('check --runtime bun warns of workers: 2 without a shared store', async () => {
    const { stdout, code } = await run(BUN_NODE, ['check', '--config', join(dir, 'spread.json'), '--runtime', 'bun']);
    expect(stdout).toMatch(/^warning: workers: 2 bun processes spread one client's connections/m);
    expect(code).toBe(0);
  });
});
