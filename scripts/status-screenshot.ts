/**
 * Makes docs/status.png, the README's picture of the status page, from a clean demo-like state:
 * three real `docker-registry` processes laid out as Nexus's repositories (hosted A = the write
 * primary, hosted B = its synced backup, group = a pull-through cache of hosted A), the built
 * router (`node dist/node.mjs`) in front with default health checks, a little traffic (pings, a
 * missing tag, a layer pushed and pulled), a download held open, then hosted A killed. The page is
 * captured in headless Chromium once it shows hosted A down.
 *
 *   npm run screenshot [-- --out docs/status.png]
 *
 * Needs docker-registry (apt-get install docker-registry) and chromium (/usr/bin/chromium, or
 * CHROMIUM_BIN). Every process it starts is stopped by its PID at the end, also on failure.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { request, type Dispatcher } from 'undici';
import type { StatusSnapshot } from '../src/status/snapshot.ts';
import { uploadBlob } from '../test/support/blob.ts';
import { freePort } from '../test/support/ports.ts';
import { startRegistry, type Registry } from '../test/support/registry.ts';
import { startRouter, type RouterProcess } from '../test/support/router.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const MiB = 1024 * 1024;
/** Chromium without the background traffic and services a screenshot does not need. */
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'docs/status.png') } } });
  const out = resolve(values.out!);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM_BIN)`);
  if (!existsSync(join(ROOT, 'dist/node.mjs'))) throw new Error('dist/node.mjs is missing: run `npm run build` (npm run screenshot does)');

  const registries: Registry[] = [];
  let router: RouterProcess | undefined;
  let held: Dispatcher.ResponseData | undefined;
  try {
    const [hostedA, hostedB] = await Promise.all([
      startRegistry({ name: 'hosted-a', logLevel: 'warn' }),
      startRegistry({ name: 'hosted-b', logLevel: 'warn' }),
    ]);
    registries.push(hostedA, hostedB);
    const group = await startRegistry({ name: 'group', proxyRemote: hostedA.url, logLevel: 'warn' });
    registries.push(group);

    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    router = await startRouter(
      'node',
      {
        admin: { port: adminPort },
        sites: [
          {
            name: 'docker',
            hosts: ['127.0.0.1', 'localhost'],
            preset: 'docker',
            upstreams: { read: group.url, write: { servers: [hostedA.url], backup: [hostedB.url] } },
          },
        ],
      },
      { quiet: true },
    );
    const status = async (): Promise<StatusSnapshot> => (await (await request(`${admin}/status.json`)).body.json()) as StatusSnapshot;
    const until = async (what: string, condition: (s: StatusSnapshot) => boolean): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!condition(await status())) {
        if (Date.now() > deadline) throw new Error(`the status page never showed ${what}:\n${router!.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const servers = (s: StatusSnapshot) => s.sites[0]!.roles.flatMap((role) => role.servers);
    await until('every server up', (s) => servers(s).every((server) => server.state === 'up'));

    // A little traffic: pings, a tag that is not there (404), a layer pushed to hosted A and pulled through the group.
    for (const path of ['/v2/', '/v2/', '/v2/demo/hello/manifests/latest']) await request(`${router.url}${path}`).then((r) => r.body.dump());
    const { digest } = await uploadBlob(router.url, 'demo/hello', 48 * MiB, { seed: 'status-screenshot' });
    await request(`${router.url}/v2/demo/hello/blobs/${digest}`).then((r) => r.body.dump());
    // The group caches a pulled blob from a second fetch of its own: wait until it holds it, so it serves it alone.
    const cached = join(group.dataDir, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');
    for (const deadline = Date.now() + 30_000; !existsSync(cached); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > deadline) throw new Error(`the group did not cache ${digest}`);
    }

    // The write primary dies; a download from the group is held open (its client reads nothing).
    await hostedA.stop();
    held = await request(`${router.url}/v2/demo/hello/blobs/${digest}`);
    await until('hosted A down', (s) => servers(s).some((server) => server.href === hostedA.url && server.state === 'down'));
    // A push now is paused (503): the 5xx of the minute.
    await request(`${router.url}/v2/demo/other/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } }).then((r) => r.body.dump());
    await until('the held download', (s) => s.sites[0]!.transfers.length === 1 && s.sites[0]!.transfers[0]!.bytesOut > 0);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', deviceScaleFactor: 1 });
      await page.goto(`${admin}/`);
      await page.locator(`tr[data-role="write"][data-server="${hostedA.url}"][data-state="down"]`).waitFor({ timeout: 10_000 });
      await page.locator('tr[data-transfer]').waitFor({ timeout: 10_000 });
      mkdirSync(dirname(out), { recursive: true });
      await page.screenshot({ path: out, fullPage: true });
    } finally {
      await browser.close();
    }
    console.log(`status page captured: ${out}`);
  } finally {
    held?.body.destroy();
    await router?.stop();
    await Promise.allSettled(registries.map((registry) => registry.destroy()));
  }
}

main().catch((error: unknown) => {
  console.error(`status-screenshot: ${(error as Error).message}`);
  process.exit(1);
});
