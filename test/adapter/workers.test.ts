/** The primary's choices that need no process (src/adapter/workers.ts, src/config/workers.ts). */
import { describe, expect, it } from 'vitest';
import { parseListening, restartDelayMs, workerFor } from '../../src/adapter/workers.ts';
import { configSchema } from '../../src/config/schema.ts';
import { keepsClientOnOneWorker, workerCount } from '../../src/config/workers.ts';
import { listeningLine } from '../../src/adapter/lifecycle.ts';
import { runCommand } from '../../src/cli/program.ts';
import type { StartOptions } from '../../src/config/cli.ts';
import type { UpstreamClient } from '../../src/forward/client.ts';

describe('workerFor', () => {
  it('gives one address always the same slot, and spreads addresses over the slots', () => {
    expect(workerFor('127.0.0.2', 2)).toBe(workerFor('127.0.0.2', 2));
    expect(workerFor('127.0.0.2', 2)).not.toBe(workerFor('127.0.0.3', 2));
    const slots = new Set(Array.from({ length: 64 }, (_, i) => workerFor(`10.0.0.${i}`, 4)));
    expect([...slots].sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('restartDelayMs', () => {
  it('doubles from 0.5 s while a worker keeps dying young, up to 30 s', () => {
    expect([1, 2, 3, 4, 10].map(restartDelayMs)).toEqual([500, 1000, 2000, 4000, 30_000]);
  });
});

describe('parseListening', () => {
  it('reads back the start line a worker sends', () => {
    expect(parseListening(listeningLine('https', '::1', 8443, 'x'))).toEqual({ scheme: 'https', host: '::1', port: 8443 });
    expect(parseListening(listeningLine('http', '127.0.0.1', 0, 'x'))).toEqual({ scheme: 'http', host: '127.0.0.1', port: 0 });
  });
});

describe('"workers" in the config', () => {
  const base = { sites: [{ name: 'd', hosts: ['h'], preset: 'docker', upstream: 'http://n:8081' }] };
  it('defaults to 1, takes a count or "auto" (the CPUs), and names the field when wrong', () => {
    expect(workerCount(configSchema.parse(base))).toBe(1);
    expect(workerCount(configSchema.parse({ ...base, workers: 3 }))).toBe(3);
    expect(workerCount(configSchema.parse({ ...base, workers: 'auto' }), () => 6)).toBe(6);
    const bad = configSchema.safeParse({ ...base, workers: 0 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['workers']);
    expect(bad.error!.issues[0]!.message).toMatch(/"auto"/);
    expect(configSchema.safeParse({ ...base, workers: 'many' }).success).toBe(false);
  });
  it('keeps a client on one worker on Node only', () => {
    expect(keepsClientOnOneWorker('node', 4)).toBe(true);
    expect(keepsClientOnOneWorker('bun', 4)).toBe(false);
    expect(keepsClientOnOneWorker('deno', 1)).toBe(true);
  });
});

describe('serve --workers', () => {
  const config = JSON.stringify({ workers: 2, sites: [{ name: 'd', hosts: ['h'], preset: 'docker', upstream: 'http://n:8081' }] });
  const serveWith = async (...flags: string[]) => {
    const started: StartOptions[] = [];
    let err = '';
    const code = await runCommand(
      {
        runtime: 'node',
        argv: ['serve', '--config', '/etc/router.json', ...flags],
        env: () => undefined,
        readText: () => config,
        cwd: () => '/',
        client: () => ({}) as UpstreamClient,
        serve: (start) => void started.push(start),
        exit: (code) => {
          throw new Error(`exit ${code}`);
        },
      },
      { out: () => {}, err: (text) => void (err += text) },
    );
    return { code, started, err };
  };
  it('overrides "workers" of the config, and refuses what is no count', async () => {
    expect((await serveWith()).started[0]!.config.workers).toBe(2);
    expect((await serveWith('--workers', '4')).started[0]!.config.workers).toBe(4);
    expect((await serveWith('--workers', 'auto')).started[0]!.config.workers).toBe('auto');
    const bad = await serveWith('--workers', '0');
    expect(bad.code).toBe(2);
    expect(bad.started).toEqual([]);
    expect(bad.err).toContain('--workers is a whole number from 1 to 1024, or "auto"');
  });
});
