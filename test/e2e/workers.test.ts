/**
 * `"workers": 2` on every runtime that runs processes (node, bun-node, bun, deno), with real
 * registries and skopeo: a push and a pull back with equal digests; `/metrics` and `/status.json`
 * of the one admin listener add up the workers; SIGHUP reloads the TLS certificate in every
 * worker; a worker killed with SIGKILL is started again; SIGTERM drains and exits 0. On Node, one
 * client address's connections always reach the same worker (the primary hands them over by
 * address), and a download in flight finishes after SIGTERM.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerFor } from '../../src/adapter/workers.ts';
import type { MergedSnapshot } from '../../src/status/merge.ts';
import { uploadBlob } from '../support/blob.ts';
import { buildImage } from '../support/image.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { copy, dockerRef, inspectDigest } from '../support/skopeo.ts';
import { runCertsCommand } from '../support/certs-command.ts';

const MiB = 1024 * 1024;

let work: string;
let certsDir: string;
let hosted: Registry;
let group: Registry;

function runCerts(...extra: string[]): void {
  runCertsCommand(join(work, 'certs.json'), certsDir, ...extra);
}

const fingerprintOf = (pem: Buffer | string) => new X509Certificate(pem).fingerprint256;

/** The certificate a new TLS connection from `localAddress` is served. */
function freshFingerprint(port: number, ca: Buffer, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise<string>((done, fail) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/v2/', ca, servername: 'registry.test', agent: false, localAddress, headers: { host: `registry.test:${port}` } },
      (res) => {
        res.resume();
        done((res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/** GET on a new connection from `localAddress`: the status. */
function getFrom(url: string, localAddress: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = httpRequest(`${url}/v2/`, { agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode!));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', fail);
    req.end();
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rr-workers-'));
  certsDir = join(work, 'certs');
  hosted = await startRegistry({ name: 'workers-hosted' });
  group = await startRegistry({ name: 'workers-group', proxyRemote: hosted.url });
  writeFileSync(
    join(work, 'certs.json'),
    JSON.stringify({ sites: [{ name: 'docker', hosts: ['127.0.0.1', 'registry.test'], preset: 'docker', upstream: hosted.url }] }),
  );
  runCerts();
});

afterAll(async () => {
  await Promise.allSettled([hosted?.destroy(), group?.destroy()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(['node', 'bun-node', 'bun', 'deno'] as const satisfies readonly Runtime[])('workers: 2 on %s', (runtime) => {
  let router: RouterProcess;
  let admin: string;
  let pair: { cert: string; key: string };
  const status = async () => (await (await fetch(`${admin}/status.json`)).json()) as MergedSnapshot;

  beforeAll(async () => {
    const dir = join(work, runtime);
    mkdirSync(dir);
    pair = { cert: join(dir, 'docker.crt'), key: join(dir, 'docker.key') };
    copyFileSync(join(certsDir, 'docker.crt'), pair.cert);
    copyFileSync(join(certsDir, 'docker.key'), pair.key);
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    router = await startRouter(
      runtime,
      {
        workers: 2,
        admin: { host: '127.0.0.1', port: adminPort },
        sites: [{ name: 'docker', hosts: ['127.0.0.1', 'localhost', 'registry.test'], preset: 'docker', upstreams: { read: group.url, write: hosted.url } }],
      },
      { listen: [{}, pair] },
    );
  });

  afterAll(async () => {
    await router?.stop();
  });

  it('says so on its start line, pushes and pulls back with equal digests, and /metrics adds up both workers', async () => {
    expect(router.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(.*; 2 workers, /);
    const image = await buildImage(join(work, `${runtime}-app`), {
      tag: 'v1',
      layers: [{ randomBytes: 2 * MiB, seed: `workers-${runtime}` }, { files: { 'app/runtime': runtime } }],
    });
    await copy(image.ref(), dockerRef(router.url, `team/${runtime}`, 'v1'));
    expect(await inspectDigest(dockerRef(hosted.url, `team/${runtime}`, 'v1'))).toBe(image.manifestDigest);
    const pulled = join(work, `${runtime}-pulled`);
    await copy(dockerRef(router.url, `team/${runtime}`, 'v1'), `oci:${pulled}:v1`);
    expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);

    // Every request went through one worker or the other: the merged counters equal the access log.
    const summed = async () => {
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      return [...metrics.matchAll(/^registry_router_requests_total\{.*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const logged = await until('the counters to match the access log', async () => {
      const lines = router.accessLog().length;
      return lines > 0 && (await summed()) === lines ? lines : undefined;
    });
    const snapshot = await status();
    expect(snapshot.workers.map((w) => [w.id, w.state, w.answered])).toEqual([
      [1, 'up', true],
      [2, 'up', true],
    ]);
    expect(snapshot.workers.reduce((sum, w) => sum + w.requests, 0)).toBe(logged);
    expect(snapshot.sites[0]!.requests.total.requests).toBe(logged);
    expect(await (await fetch(`${admin}/metrics`)).text()).toMatch(/^registry_router_worker_up\{worker="2"\} 1$/m);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
  });

  it('reloads the TLS certificate in every worker on one SIGHUP', async () => {
    const ca = readFileSync(join(certsDir, 'ca.crt'));
    const tlsPort = router.ports[1]!;
    const old = fingerprintOf(readFileSync(pair.cert));
    expect(await freshFingerprint(tlsPort, ca)).toBe(old);
    runCerts('--renew');
    copyFileSync(join(certsDir, 'docker.crt'), pair.cert);
    copyFileSync(join(certsDir, 'docker.key'), pair.key);
    const renewed = fingerprintOf(readFileSync(pair.cert));
    expect(renewed).not.toBe(old);
    const before = router.stderr().length;
    router.child.kill('SIGHUP');
    await until('both workers to reload', () => {
      const said = router.stderr().slice(before);
      return [1, 2].every((id) => new RegExp(`registry-router worker ${id}: SIGHUP, reloaded the certificates of 127\\.0\\.0\\.1:${tlsPort}`).test(said))
        ? true
        : undefined;
    });
    // New connections, whichever worker takes them (on Node both client addresses, one per worker), get the new one.
    const from = ['127.0.0.2', '127.0.0.3'];
    const seen = await Promise.all(Array.from({ length: 16 }, (_, i) => freshFingerprint(tlsPort, ca, from[i % 2])));
    expect(new Set(seen)).toEqual(new Set([renewed]));
  });

  it('starts a worker killed with SIGKILL again, and keeps answering meanwhile', async () => {
    const before = await status();
    const victim = before.workers[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    // With reusePort, connections the kernel had queued at the killed worker are reset: a client tries again.
    await until('a 200 while worker 1 is away', async () => ((await getFrom(router.url, '127.0.0.1').catch(() => 0)) === 200 ? true : undefined));
    const back = await until('worker 1 back', async () => {
      const worker = (await status()).workers[0]!;
      return worker.state === 'up' && worker.pid !== victim.pid ? worker : undefined;
    });
    expect(back.restarts).toBe(1);
    expect(back.lastExit?.signal).toBe('SIGKILL');
    expect(router.stderr()).toContain(`worker 1 (pid ${victim.pid}) exited with signal SIGKILL; starting it again`);
    expect(await (await fetch(`${admin}/metrics`)).text()).toMatch(/^registry_router_worker_restarts_total\{worker="1"\} 1$/m);
    for (const address of ['127.0.0.2', '127.0.0.3']) expect(await getFrom(router.url, address)).toBe(200);
  });

  if (runtime === 'node') {
    it('lists every worker on the status page (headless chromium)', async () => {
      const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
        args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(`${admin}/`);
        const rows = page.locator('[data-testid="workers"] tr[data-worker]');
        await rows.nth(1).waitFor({ timeout: 10_000 });
        expect(await rows.count()).toBe(2);
        expect(await page.locator('[data-testid="workers"] tr[data-worker="2"] .badge').textContent()).toBe('up');
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    });

    it("keeps each client address's connections on one worker, the one its address hashes to", async () => {
      const counts = async () => (await status()).workers.map((w) => w.requests);
      for (const address of ['127.0.0.2', '127.0.0.3']) {
        const before = await counts();
        for (let i = 0; i < 6; i++) expect(await getFrom(router.url, address)).toBe(200);
        const slot = workerFor(address, 2);
        const after = await until('the counts to settle', async () => {
          const now = await counts();
          return now.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0) === 6 ? now : undefined;
        });
        expect(after.map((n, i) => n - before[i]!)).toEqual(slot === 0 ? [6, 0] : [0, 6]);
      }
      // The two addresses hash to different workers (so the check above saw both).
      expect(workerFor('127.0.0.2', 2)).not.toBe(workerFor('127.0.0.3', 2));
    });
  }

  it('drains every worker on SIGTERM and exits 0', async () => {
    const pids = (await status()).workers.map((w) => w.pid!);
    // Node: a download paused in flight finishes after SIGTERM.
    let download: Promise<{ digest: string; bytes: number }> | undefined;
    let resume = () => {};
    let blobDigest = '';
    if (runtime === 'node') {
      const blob = await uploadBlob(hosted.url, 'team/drain', 8 * MiB, { seed: 'drain' });
      blobDigest = blob.digest;
      let paused = false;
      const resumed = new Promise<void>((r) => (resume = r));
      download = new Promise((done, fail) => {
        const req = httpRequest(`${router.url}/v2/team/drain/blobs/${blob.digest}`, { agent: false }, (res) => {
          const hash = createHash('sha256');
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            bytes += chunk.length;
            if (bytes >= MiB && !paused) {
              paused = true;
              res.pause();
              void resumed.then(() => res.resume());
            }
          });
          res.on('end', () => done({ digest: `sha256:${hash.digest('hex')}`, bytes }));
          res.on('error', fail);
        });
        req.on('error', fail);
        req.end();
      });
      await until('the download to pause', () => (paused ? true : undefined));
    }
    const stopped = router.stop('SIGTERM');
    if (download) {
      await until('the workers to hear SIGTERM', () => ((router.stderr().match(/worker \d: SIGTERM, finishing/g) ?? []).length === 2 ? true : undefined));
      resume();
      expect(await download).toEqual({ digest: blobDigest, bytes: 8 * MiB });
    }
    expect(await stopped).toBe(0);
    for (const pid of pids) {
      await until(`worker ${pid} to be gone`, () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      });
    }
  });
});
