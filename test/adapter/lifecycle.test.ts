/**
 * The lifecycle every serving adapter runs (src/adapter/lifecycle.ts), with a fake process: what
 * SIGHUP, SIGTERM and SIGINT do, the grace period, the admin listener's start and failure, and a
 * listener start that fails. The real signals on real runtimes: test/e2e/tls.test.ts (SIGHUP, SIGTERM),
 * test/cli/serve-start.test.ts (busy ports), test/status/readyz.test.ts (the admin line).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  adminLine,
  listeningLine,
  runLifecycle,
  startAdmin,
  startListeners,
  stoppingLine,
  type ProcessHooks,
  type Serving,
} from '../../src/adapter/lifecycle.ts';
import type { RouterApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';

/** A process whose signals the test sends, whose exits and stderr lines are kept (its exit returns: the test goes on). */
function fakeProcess() {
  const handlers = new Map<string, Array<{ handler: () => void; once: boolean }>>();
  const lines: string[] = [];
  const exits: number[] = [];
  const hooks: ProcessHooks = {
    signals: {
      on: (signal, handler) => void handlers.set(signal, [...(handlers.get(signal) ?? []), { handler, once: false }]),
      once: (signal, handler) => void handlers.set(signal, [...(handlers.get(signal) ?? []), { handler, once: true }]),
    },
    exit: (code) => {
      exits.push(code);
      return undefined as never;
    },
    log: (line) => void lines.push(line),
  };
  const send = (signal: string) => {
    const listening = handlers.get(signal) ?? [];
    handlers.set(
      signal,
      listening.filter((entry) => !entry.once),
    );
    for (const { handler } of listening) handler();
  };
  return { hooks, lines, exits, send, listeners: (signal: string) => handlers.get(signal)?.length ?? 0 };
}

const config = parseConfig({
  admin: { port: 9090 },
  timeouts: { shutdownGrace: 30 },
  sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstream: 'http://nexus:8081' }],
});

function fakeApp() {
  const calls: string[] = [];
  const app = { stop: () => void calls.push('app.stop'), admin: { fetch: async () => new Response('admin') } } as unknown as RouterApp;
  return { app, calls };
}

/** Site listeners that record what is asked of them; `drained` settles the drain. */
function fakeServing(calls: string[]) {
  let drained!: () => void;
  const serving: Serving = {
    reload: () => void calls.push('reload'),
    drain: () => {
      calls.push('drain');
      return new Promise<void>((done) => (drained = done));
    },
    cut: () => void calls.push('cut'),
  };
  return { serving, drained: () => drained() };
}

/** Lets the promise callbacks run. */
const settle = async () => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

describe('runLifecycle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('SIGHUP reloads every time; the first SIGTERM says so, stops the checks and the admin listener, drains, exits 0', async () => {
    const process = fakeProcess();
    const { app, calls } = fakeApp();
    const { serving, drained } = fakeServing(calls);
    runLifecycle({ config, app, serving, admin: { stop: () => void calls.push('admin.stop') }, hooks: process.hooks });

    process.send('SIGHUP');
    process.send('SIGHUP');
    expect(calls).toEqual(['reload', 'reload']);

    process.send('SIGTERM');
    expect(process.lines).toEqual([stoppingLine('SIGTERM', config)]);
    expect(process.lines[0]).toBe('registry-router: SIGTERM, finishing transfers in flight (up to 30 s)');
    expect(calls.slice(2)).toEqual(['app.stop', 'admin.stop', 'drain']);
    expect(process.exits).toEqual([]);

    // A SIGINT while draining changes nothing.
    process.send('SIGINT');
    expect(calls.slice(2)).toEqual(['app.stop', 'admin.stop', 'drain']);
    expect(process.lines).toHaveLength(1);

    drained();
    await settle();
    expect(process.exits).toEqual([0]);
    expect(calls).not.toContain('cut');
  });

  it('the grace period over with transfers still going: cuts them and exits 0', () => {
    const process = fakeProcess();
    const { app, calls } = fakeApp();
    const { serving } = fakeServing(calls);
    runLifecycle({ config, app, serving, hooks: process.hooks });

    process.send('SIGINT');
    expect(process.lines).toEqual(['registry-router: SIGINT, finishing transfers in flight (up to 30 s)']);
    vi.advanceTimersByTime(29_999);
    expect(process.exits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(['app.stop', 'drain', 'cut']);
    expect(process.exits).toEqual([0]);
  });

  it("asks for SIGTERM and SIGINT once each (a second Ctrl-C gets the runtime's default), SIGHUP for good", () => {
    const process = fakeProcess();
    const { app, calls } = fakeApp();
    runLifecycle({ config, app, serving: fakeServing(calls).serving, hooks: process.hooks });
    expect([process.listeners('SIGHUP'), process.listeners('SIGTERM'), process.listeners('SIGINT')]).toEqual([1, 1, 1]);
    process.send('SIGINT');
    expect([process.listeners('SIGHUP'), process.listeners('SIGTERM'), process.listeners('SIGINT')]).toEqual([1, 1, 0]);
  });
});

describe('startAdmin', () => {
  it('starts the admin app on the configured address and prints the status page line with the address it got', async () => {
    const process = fakeProcess();
    const { app } = fakeApp();
    let asked: { host: string; port: number } | undefined;
    let fetch: ((request: Request) => Response | Promise<Response>) | undefined;
    const admin = startAdmin(
      config,
      app,
      (options, listening) => {
        asked = { host: options.host, port: options.port };
        fetch = options.fetch;
        listening('127.0.0.1', 9090);
        return { stop() {} };
      },
      process.hooks,
    );
    expect(admin).toBeDefined();
    expect(asked).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(await (await fetch!(new Request('http://127.0.0.1:9090/healthz'))).text()).toBe('admin');
    expect(process.lines).toEqual([adminLine('127.0.0.1', 9090)]);
    expect(process.lines[0]).toBe('registry-router status page on http://127.0.0.1:9090/ (admin listener; also /status.json, /metrics, /healthz, /readyz)');
  });

  it('without `admin` in the config: nothing starts', () => {
    const process = fakeProcess();
    const bare = { ...config, admin: undefined };
    expect(startAdmin(bare, fakeApp().app, () => expect.fail('started'), process.hooks)).toBeUndefined();
  });

  it('a busy port, thrown at once (Bun, Deno) or reported later (Node): what to do, exit 1', () => {
    const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9090'), { code: 'EADDRINUSE' });
    const hint =
      "; another process already listens on 127.0.0.1:9090 (`ss -ltnp 'sport = :9090'` shows which): stop it, " +
      'or give the router another port: "admin": { "port": … } in the config';
    const thrown = fakeProcess();
    startAdmin(
      config,
      fakeApp().app,
      () => {
        throw busy;
      },
      thrown.hooks,
    );
    expect(thrown.lines).toEqual([`registry-router: cannot listen on 127.0.0.1:9090 (admin): ${busy.message}${hint}`]);
    expect(thrown.exits).toEqual([1]);

    const later = fakeProcess();
    let failed!: (error: unknown) => void;
    startAdmin(
      config,
      fakeApp().app,
      (_options, _listening, fail) => {
        failed = fail;
        return { stop() {} };
      },
      later.hooks,
    );
    failed(busy);
    expect(later.lines).toEqual(thrown.lines);
    expect(later.exits).toEqual([1]);
  });
});

describe('startListeners and the start lines', () => {
  it('a listener that cannot start: its message alone on stderr, exit 2', () => {
    const process = fakeProcess();
    startListeners(() => {
      throw new Error('cannot use TLS certificate certs/docker.crt with key certs/docker.key: no such file');
    }, process.hooks);
    expect(process.lines).toEqual(['cannot use TLS certificate certs/docker.crt with key certs/docker.key: no such file']);
    expect(process.exits).toEqual([2]);
    expect(startListeners(() => 'servers', fakeProcess().hooks)).toBe('servers');
  });

  it('"listening on" names the scheme, the address (IPv6 in brackets) and where the config came from', () => {
    expect(listeningLine('https', '::1', 8443, 'router.json')).toBe('registry-router listening on https://[::1]:8443 (router.json)');
    expect(listeningLine('http', '0.0.0.0', 80, 'built-in default config')).toBe('registry-router listening on http://0.0.0.0:80 (built-in default config)');
  });
});
