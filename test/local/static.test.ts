/**
 * Static folders in the core (createApp + node:fs file access), without a server: content types,
 * validators and 304s, HEAD, single ranges, listings, and path checks the URL parser never sees.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import type { AccessEntry } from '../../src/access-log.ts';
import { parseConfig } from '../../src/config/load.ts';
import { nodeFiles } from '../../src/local/node-files.ts';
import { rangeFor, safeSegments } from '../../src/local/static.ts';

const BIG = Buffer.alloc(300 * 1024, 0).map((_, i) => i % 251);

let dir: string;
let app: ReturnType<typeof createApp>;
const log: AccessEntry[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rr-static-'));
  const root = join(dir, 'download');
  mkdirSync(join(root, 'scripts'), { recursive: true });
  mkdirSync(join(root, 'inner'));
  writeFileSync(join(root, 'readme.txt'), 'hello\n');
  writeFileSync(join(root, 'big.bin'), BIG);
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
  writeFileSync(join(root, 'scripts', 'setup.sh'), '#!/bin/sh\n');
  writeFileSync(join(root, '.htpasswd'), 'admin:secret\n');
  writeFileSync(join(root, 'a b&<c>.txt'), 'odd name\n');
  writeFileSync(join(dir, 'secret.txt'), 'TOP SECRET\n');
  utimesSync(join(root, 'readme.txt'), new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
  symlinkSync(join(root, 'readme.txt'), join(root, 'inner', 'link-inside.txt'));
  symlinkSync(join(dir, 'secret.txt'), join(root, 'link-outside.txt'));
  symlinkSync(dir, join(root, 'escape'));
  mkdirSync(join(dir, 'listed'));
  writeFileSync(join(dir, 'listed', 'one.txt'), '1');
  symlinkSync(join(dir, 'secret.txt'), join(dir, 'listed', 'out.txt'));
  mkdirSync(join(root, 'site'));
  writeFileSync(join(root, 'site', 'index.html'), '<h1>downloads</h1>\n');
  mkdirSync(join(root, 'leaky'));
  symlinkSync(join(dir, 'secret.txt'), join(root, 'leaky', 'index.html'));
  mkdirSync(join(dir, 'listed', 'with-index'));
  writeFileSync(join(dir, 'listed', 'with-index', 'index.html'), 'index wins\n');

  const config = parseConfig({
    sites: [
      {
        name: 'web',
        hosts: ['repo.example.com'],
        upstream: 'http://nexus:8081',
        static: [
          { prefix: '/download', dir: root },
          { prefix: '/pub/', dir: join(dir, 'listed'), listing: true },
        ],
      },
    ],
  });
  app = createApp(config, {
    client: { send: async () => ({ status: 299, headers: new Headers({ 'x-proxied': 'yes' }), body: null }) },
    log: (entry) => log.push(entry),
    files: nodeFiles,
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  app.fetch(new Request(`http://repo.example.com${path}`, { method, headers: { host: 'repo.example.com', ...headers } }));

describe('static files in the core', () => {
  it('serves a file with type, length, validators and ranges advertised', async () => {
    const response = await get('/download/readme.txt');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello\n');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('content-length')).toBe('6');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('last-modified')).toBe('Tue, 02 Jan 2024 03:04:05 GMT');
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]+-6"$/);
    expect((await get('/download/ca.crt')).headers.get('content-type')).toBe('application/x-x509-ca-cert');
    expect((await get('/download/scripts/setup.sh')).headers.get('content-type')).toBe('text/x-shellscript; charset=utf-8');
    expect((await get('/download/big.bin')).headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await (await get('/download/big.bin')).arrayBuffer()).equals(BIG)).toBe(true);
    const empty = await get('/download/empty.txt');
    expect([empty.status, empty.headers.get('content-length'), await empty.text()]).toEqual([200, '0', '']);
    expect(await (await get('/download/a%20b%26%3Cc%3E.txt')).text()).toBe('odd name\n');
    expect(log.at(-1)).toMatchObject({ site: 'web', role: 'static', status: 200, upstream: null });
  });

  it('answers 304 to If-None-Match and If-Modified-Since', async () => {
    const etag = (await get('/download/readme.txt')).headers.get('etag')!;
    const cached = await get('/download/readme.txt', { 'if-none-match': `"other", ${etag}` });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('etag')).toBe(etag);
    expect(await cached.text()).toBe('');
    expect((await get('/download/readme.txt', { 'if-none-match': `W/${etag}` })).status).toBe(304);
    expect((await get('/download/readme.txt', { 'if-none-match': '*' })).status).toBe(304);
    expect((await get('/download/readme.txt', { 'if-none-match': '"stale"' })).status).toBe(200);
    expect((await get('/download/readme.txt', { 'if-modified-since': 'Tue, 02 Jan 2024 03:04:05 GMT' })).status).toBe(304);
    expect((await get('/download/readme.txt', { 'if-modified-since': 'Tue, 02 Jan 2024 03:04:04 GMT' })).status).toBe(200);
    // If-None-Match wins over If-Modified-Since.
    expect((await get('/download/readme.txt', { 'if-none-match': '"stale"', 'if-modified-since': 'Tue, 02 Jan 2030 00:00:00 GMT' })).status).toBe(200);
    expect((await get('/download/readme.txt', { 'if-modified-since': 'yesterday' })).status).toBe(200);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const head = await get('/download/big.bin', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG.length));
    expect(head.body).toBeNull();
  });

  it('serves single ranges: 206, suffix, open end, clamped end; 416 beyond the end', async () => {
    const part = await get('/download/big.bin', { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${BIG.length}`);
    expect(part.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await part.arrayBuffer()).equals(BIG.subarray(1000, 2000))).toBe(true);
    const suffix = await get('/download/big.bin', { range: 'bytes=-100' });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(BIG.subarray(BIG.length - 100))).toBe(true);
    const open = await get('/download/big.bin', { range: 'bytes=200000-' });
    expect(open.headers.get('content-range')).toBe(`bytes 200000-${BIG.length - 1}/${BIG.length}`);
    expect(Buffer.from(await open.arrayBuffer()).equals(BIG.subarray(200000))).toBe(true);
    const clamped = await get('/download/readme.txt', { range: 'bytes=2-999' });
    expect([clamped.status, clamped.headers.get('content-range'), await clamped.text()]).toEqual([206, 'bytes 2-5/6', 'llo\n']);
    const beyond = await get('/download/readme.txt', { range: 'bytes=6-' });
    expect([beyond.status, beyond.headers.get('content-range')]).toEqual([416, 'bytes */6']);
    expect((await get('/download/empty.txt', { range: 'bytes=-1' })).status).toBe(416);
    // Several ranges, nonsense, a stale If-Range, or HEAD: the whole file.
    expect((await get('/download/readme.txt', { range: 'bytes=0-1,3-4' })).status).toBe(200);
    expect((await get('/download/readme.txt', { range: 'lines=1-2' })).status).toBe(200);
    expect((await get('/download/readme.txt', { range: 'bytes=3-1' })).status).toBe(200);
    expect((await get('/download/readme.txt', { range: 'bytes=0-1', 'if-range': '"stale"' })).status).toBe(200);
    const etag = (await get('/download/readme.txt')).headers.get('etag')!;
    expect((await get('/download/readme.txt', { range: 'bytes=0-1', 'if-range': etag })).status).toBe(206);
    expect((await get('/download/readme.txt', { range: 'bytes=0-1' }, 'HEAD')).status).toBe(200);
  });

  it('lists no folder unless listing is on, and then only what can be fetched', async () => {
    expect((await get('/download/')).status).toBe(404);
    expect((await get('/download')).status).toBe(404);
    expect((await get('/download/inner/')).status).toBe(404);
    const redirect = await get('/pub');
    expect([redirect.status, redirect.headers.get('location')]).toEqual([301, '/pub/']);
    const listing = await get('/pub/');
    expect(listing.status).toBe(200);
    const html = await listing.text();
    expect(html).toContain('<a href="one.txt">one.txt</a>');
    expect(html).not.toContain('out.txt');
    expect(await (await get('/pub/one.txt')).text()).toBe('1');
  });

  it('a folder URL serves its index.html as nginx does, and without its slash redirects to it', async () => {
    const bare = await get('/download/site?x=1');
    expect([bare.status, bare.headers.get('location')]).toEqual([301, '/download/site/?x=1']);
    const page = await get('/download/site/');
    expect([page.status, page.headers.get('content-type'), await page.text()]).toEqual([200, 'text/html; charset=utf-8', '<h1>downloads</h1>\n']);
    const head = await get('/download/site/', {}, 'HEAD');
    expect([head.status, head.headers.get('content-length')]).toEqual([200, '19']);
    // Before the listing, where both could answer (nginx: the index module runs before autoindex).
    expect(await (await get('/pub/with-index/')).text()).toBe('index wins\n');
    // An index.html that leads out of the folder is no index; without one and without listing: 404, no redirect.
    expect((await get('/download/leaky/')).status).toBe(404);
    expect((await get('/download/leaky')).status).toBe(404);
  });

  it('follows symlinks that stay inside, and no others', async () => {
    expect(await (await get('/download/inner/link-inside.txt')).text()).toBe('hello\n');
    expect((await get('/download/link-outside.txt')).status).toBe(404);
    expect((await get('/download/escape/secret.txt')).status).toBe(404);
    expect((await get('/pub/out.txt')).status).toBe(404);
  });

  it('hides dotfiles, refuses writes, and leaves other paths to the proxy', async () => {
    expect((await get('/download/.htpasswd')).status).toBe(404);
    expect((await get('/download/%2ehtpasswd')).status).toBe(404);
    const put = await get('/download/readme.txt', {}, 'PUT');
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await get('/downloads/readme.txt')).headers.get('x-proxied')).toBe('yes');
    expect((await get('/v2/')).headers.get('x-proxied')).toBe('yes');
  });

  it('refuses encoded separators, dot segments, backslashes and control characters', async () => {
    for (const path of [
      '/download/..%2fsecret.txt',
      '/download/%2e%2e%2fsecret.txt',
      '/download/inner%2f..%2f..%2fsecret.txt',
      '/download/..%5csecret.txt',
      '/download/readme.txt%00.png',
      '/download/%zz',
      '/download/a%0ab',
    ]) {
      const response = await get(path);
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
    }
    // What the URL parser turns into another path never reaches the folder.
    for (const path of ['/download/../secret.txt', '/download/%2e%2e/secret.txt', '/download/.%2e/secret.txt', '/download\\..\\secret.txt']) {
      const response = await get(path);
      expect(await response.text()).not.toContain('TOP SECRET');
    }
  });

  it('checks each raw segment itself (runtimes that do not normalise URLs)', () => {
    expect(safeSegments('/a/b.txt')).toEqual(['a', 'b.txt']);
    expect(safeSegments('//a//b/')).toEqual(['a', 'b']);
    for (const raw of ['/../x', '/a/..', '/.', '/%2e%2e/x', '/%2E%2E', '/.%2e', '/a%2fb', '/a%2Fb', '/a\\b', '/a%5cb', '/a%00', '/%', '/a%C0%AE']) {
      expect({ raw, result: safeSegments(raw) }).toEqual({ raw, result: 'bad' });
    }
    expect(safeSegments('/.git/config')).toBe('hidden');
  });

  it('parses ranges as RFC 9110 says', () => {
    const h = (range: string) => new Headers({ range });
    expect(rangeFor(h('bytes=0-0'), 10, '"e"', 'd')).toEqual({ start: 0, end: 0 });
    expect(rangeFor(h('bytes=-20'), 10, '"e"', 'd')).toEqual({ start: 0, end: 9 });
    expect(rangeFor(h('bytes=-0'), 10, '"e"', 'd')).toBe('unsatisfiable');
    expect(rangeFor(h('bytes=10-'), 10, '"e"', 'd')).toBe('unsatisfiable');
    expect(rangeFor(h('bytes=-'), 10, '"e"', 'd')).toBeUndefined();
    expect(rangeFor(new Headers(), 10, '"e"', 'd')).toBeUndefined();
  });
});
