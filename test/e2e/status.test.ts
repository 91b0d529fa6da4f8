/**
 * The admin listener's status page in a real browser: Debian's `chromium` (apt package
 * `chromium`, /usr/bin/chromium) driven by playwright-core, against the Node router in front of two
 * real registries (write pool: primary + backup; the read pool the same two). The page lists the
 * site and both servers up; the primary is killed and the page shows it down within one health
 * interval plus one refresh, its cause wrapped at spaces only; a download held open shows as a
 * transfer in flight with its server and progress; a passive-only site shows its server unknown
 * until a request is answered; a failure reason holding markup is shown as text. Screenshots are
 * kept in test-artifacts/ (git-ignored); docs/status.png is made by scripts/status-screenshot.ts.
 *
 * Node only: the admin listener is the same app on every runtime that has one, and workerd has none.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/status/snapshot.ts';
import { POLL_MS } from '../../src/status/page.ts';
import { uploadBlob } from '../support/blob.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess } from '../support/router.ts';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');
/** Health-check interval of the suite, in seconds. */
const INTERVAL = 1;
/** What the browser gets to render once the JSON says so (on 2 shared cores). */
const SLACK_MS = 1000;
const MiB = 1024 * 1024;
/** A failure reason that holds markup (from the probe site's health path): must show as text, never run. */
const NASTY_PATH = '/<img src=x onerror="window.__injected=1">';

describe('status page on the admin listener (node, headless chromium)', () => {
  let primary: Registry;
  let backup: Registry;
  let router: RouterProcess;
  let admin: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const status = async (): Promise<StatusSnapshot> => {
    const res = await request(`${admin}/status.json`);
    expect(res.statusCode).toBe(200);
    return (await res.body.json()) as StatusSnapshot;
  };
  /** The heading over the per-minute chart: totals of the last minutes (robust to a minute turning over mid-test). */
  const recent = () => page.locator('section[data-site="docker"] [data-testid="recent"]').textContent();
  const row = (server: string, state?: 'up' | 'down' | 'unknown') =>
    page.locator(`section[data-site="docker"] tr[data-role="write"][data-server="${server}"]${state ? `[data-state="${state}"]` : ''}`);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
    [primary, backup] = await Promise.all([startRegistry({ name: 'status-primary' }), startRegistry({ name: 'status-backup' })]);
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    router = await startRouter(
      'node',
      {
        timeouts: { idle: 30, connect: 2 },
        admin: { port: adminPort },
        sites: [
          {
            name: 'docker',
            hosts: ['127.0.0.1', 'localhost'],
            preset: 'docker',
            upstreams: {
              read: { servers: [primary.url], backup: [backup.url] },
              write: { servers: [primary.url], backup: [backup.url] },
            },
            health: { interval: INTERVAL, timeout: 1, backoff: INTERVAL },
          },
          {
            // Never up (nothing listens there): its check's failure reason quotes the health path.
            name: 'probe',
            hosts: ['probe.test'],
            preset: 'generic',
            upstream: `http://127.0.0.1:${await freePort()}`,
            health: { checks: true, interval: 5, timeout: 1, path: NASTY_PATH },
          },
          // Passive only: its server is unknown until a request is answered.
          { name: 'passive', hosts: ['passive.test'], preset: 'docker', upstream: backup.url, health: { checks: false } },
        ],
      },
      { quiet: true },
    );
    const deadline = Date.now() + 10_000;
    while (
      !(await request(`${admin}/healthz`).then(
        (r) => r.body.dump().then(() => r.statusCode === 200),
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`admin listener did not come up:\n${router.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') pageErrors.push(`console ${message.type()}: ${message.text()}`);
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await router?.stop();
    await Promise.allSettled([primary, backup].map((registry) => registry?.destroy()));
  });

  it('serves one self-contained page with a strict Content-Security-Policy', async () => {
    const res = await request(`${admin}/`);
    const html = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'.*script-src 'sha256-[^']+'.*connect-src 'self'/);
    // No external assets: nothing is loaded from another origin, and nothing but status.json is fetched.
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('lists the site and both write servers up, then the primary down within one health interval plus one refresh', async () => {
    // Something for the per-minute counts: a ping (200), an unknown manifest (404), an unknown Host (421).
    for (const [path, host] of [
      ['/v2/', '127.0.0.1'],
      ['/v2/none/manifests/latest', '127.0.0.1'],
      ['/v2/', 'nobody.test'],
    ] as const) {
      await request(`${router.url}${path}`, { headers: { host } }).then((r) => r.body.dump());
    }
    await page.goto(`${admin}/`);
    await row(primary.url, 'up').waitFor({ timeout: 10_000 });
    await row(backup.url, 'up').waitFor({ timeout: 10_000 });
    expect(await page.locator('section[data-site]').evaluateAll((sections) => sections.map((s) => s.getAttribute('data-site')))).toEqual([
      'docker',
      'probe',
      'passive',
      '',
    ]);
    await expect.poll(recent, { timeout: 5000 }).toMatch(/^2 requests · 1 4xx · 0 5xx/);

    // A download held open (the client reads nothing): one transfer in flight on the primary.
    const { digest } = await uploadBlob(primary.url, 'status/held', 32 * MiB, { seed: 'status-held' });
    const held: Dispatcher.ResponseData = await request(`${router.url}/v2/status/held/blobs/${digest}`);
    expect(held.statusCode).toBe(200);
    await expect.poll(() => page.locator('section[data-site="docker"] [data-testid="in-flight"]').textContent(), { timeout: 5000 }).toBe('1');
    expect(await row(primary.url).locator('td').last().innerText()).toBe('1');
    // The transfer with the server it went to, and how far it is of the length the registry declared.
    const transfers = (await status()).sites[0]!.transfers;
    expect(transfers).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: `/v2/status/held/blobs/${digest}`,
        role: 'read',
        upstream: primary.url,
        bytesIn: 0,
        totalIn: null,
        totalOut: 32 * MiB,
      }),
    ]);
    expect(transfers[0]!.bytesOut).toBeGreaterThan(0);
    expect(transfers[0]!.percent).toBe(Math.floor((transfers[0]!.bytesOut * 100) / (32 * MiB)));
    const transfer = page.locator('section[data-site="docker"] tr[data-transfer]');
    await expect.poll(() => transfer.count()).toBe(1);
    await expect.poll(() => transfer.innerText()).toMatch(new RegExp(`${primary.url.replace(/\./g, '\\.')}[\\s\\S]*of 32\\.0 MiB[\\s\\S]*\\d+ %`));
    await page.screenshot({ path: join(ARTIFACTS, 'status-up.png'), fullPage: true });
    held.body.destroy();
    await expect.poll(async () => (await status()).sites[0]!.inFlight, { timeout: 5000 }).toBe(0);

    await primary.stop();
    const killed = Date.now();
    await row(primary.url, 'down').waitFor({ timeout: INTERVAL * 1000 + POLL_MS + 10_000 });
    const shownAfter = Date.now() - killed;
    console.log(`status page: primary shown down ${shownAfter} ms after it was killed (interval ${INTERVAL * 1000} ms, refresh ${POLL_MS} ms)`);
    expect(shownAfter).toBeLessThanOrEqual(INTERVAL * 1000 + POLL_MS + SLACK_MS);
    await expect(row(backup.url, 'up').count()).resolves.toBe(1);

    // What the page says about it, and the JSON it came from.
    const text = await row(primary.url, 'down').innerText();
    // The cause once, its code once (it was "(ECONNREFUSED) (ECONNREFUSED)").
    const port = new URL(primary.url).port;
    expect(text).toContain(`GET /v2/: 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(text).not.toContain('(ECONNREFUSED) (ECONNREFUSED)');
    expect(text).toMatch(/for \d+ s/);
    expect(text).toMatch(/check failed \d+ s ago/);
    // Lines wrap at spaces (or after a slash of a URL), never inside a word.
    const wraps = await row(primary.url, 'down').evaluate((tr) => {
      const midWord: string[] = [];
      let breaks = 0;
      const walker = document.createTreeWalker(tr, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent ?? '';
        const range = document.createRange();
        let lastTop: number | undefined;
        for (let i = 0; i < text.length; i++) {
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          const rect = range.getClientRects()[0];
          if (!rect) continue;
          if (lastTop !== undefined && rect.top > lastTop + 2) {
            breaks++;
            if (!/[\s/]/.test(text[i - 1]!) && !/\s/.test(text[i]!)) midWord.push(`${text.slice(Math.max(0, i - 12), i)}|${text.slice(i, i + 12)}`);
          }
          lastTop = rect.top;
        }
      }
      return { breaks, midWord };
    });
    expect(wraps.breaks).toBeGreaterThan(0);
    expect(wraps.midWord).toEqual([]);
    const snapshot = await status();
    const write = snapshot.sites[0]!.roles.find((r) => r.role === 'write')!;
    expect(write.servers.map((s) => [s.tier, s.up])).toEqual([
      ['primary', false],
      ['backup', true],
    ]);
    expect(write.servers[0]).toMatchObject({ state: 'down', changed: true, via: 'active', downs: 1, lastFailure: { via: 'active' } });
    expect(snapshot.sites[0]!.writesPaused).toBe(true);
    await expect.poll(() => page.locator('section[data-site="docker"] h2').innerText()).toMatch(/writes paused/);

    // A paused push answers 503 at once: it shows as a 5xx of the current minute.
    await request(`${router.url}/v2/team/app/blobs/uploads/`, { method: 'POST' }).then((r) => {
      expect(r.statusCode).toBe(503);
      return r.body.dump();
    });
    // (The held download counts too, logged when its client went away.)
    await expect.poll(recent, { timeout: 5000 }).toMatch(/^4 requests · 1 4xx · 1 5xx/);
    await page.screenshot({ path: join(ARTIFACTS, 'status.png'), fullPage: true });
    console.log(`status page screenshots: ${join(ARTIFACTS, 'status-up.png')}, ${join(ARTIFACTS, 'status.png')}`);
  });

  it('shows a passive-only server as unknown, and up once it answered a request', async () => {
    const passive = page.locator(`section[data-site="passive"] tr[data-role="read"][data-server="${backup.url}"]`);
    await expect.poll(() => passive.getAttribute('data-state')).toBe('unknown');
    expect(await passive.innerText()).toContain('not checked: active checks are off and no request has been answered yet');
    expect(await page.locator('section[data-site="passive"] [data-testid="checks"]').innerText()).toBe(
      'passive only: no active checks, health is learnt from requests',
    );
    expect(await page.locator('section[data-site="passive"] [data-testid="states"]').innerText()).toBe('1 of 1 unknown');
    await request(`${router.url}/v2/`, { headers: { host: 'passive.test' } }).then((r) => r.body.dump());
    await expect.poll(() => passive.getAttribute('data-state'), { timeout: 5000 }).toBe('up');
    expect(await passive.innerText()).toMatch(/answered a request \d+ s ago \(200\)/);
  });

  it('shows a failure reason that holds markup as text, and runs nothing of it', async () => {
    const probe = page.locator('section[data-site="probe"] tr[data-role="read"]');
    await expect.poll(() => probe.getAttribute('data-state'), { timeout: 10_000 }).toBe('down');
    expect(await probe.innerText()).toContain(`GET ${NASTY_PATH}`);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    expect(await page.locator('[data-testid="problems"]').innerText()).toContain('site probe: no healthy read upstream');
    // Neither a script error nor a CSP violation while it ran.
    expect(pageErrors).toEqual([]);
  });
});
