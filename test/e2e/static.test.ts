/**
 * Static folders through the router as a real process, with request targets written byte for
 * byte on a socket (node:net), so no client normalises `..`, `%2e`, `%2f`, `\` or NUL first.
 * Once per runtime that has a file system (not the worker).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin } from '../support/origin.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';

const SECRET = 'TOP SECRET, never served';
const LARGE = Buffer.alloc(2 * 1024 * 1024).map((_, i) => (i * 7) % 256);

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request on its own connection, the target sent exactly as given; the whole reply read until close. */
function raw(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: files.test', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${target}`)));
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return resolve({ status: 0, headers: {}, body: all });
      const [statusLine, ...headerLines] = all.subarray(0, split).toString('latin1').split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = all.subarray(split + 4);
      if (parsed['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers: parsed, body });
    });
  });
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n', at);
    if (end < 0) break;
    const size = parseInt(data.subarray(at, end).toString('latin1'), 16);
    if (!size) break;
    parts.push(data.subarray(end + 2, end + 2 + size));
    at = end + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Request targets that try to leave the folder; each must be refused (400) or not found (404). */
const ATTACKS = [
  '/download/../secret.txt',
  '/download/../../../../../../etc/passwd',
  '/download/..%2fsecret.txt',
  '/download/..%2Fsecret.txt',
  '/download/%2e%2e/secret.txt',
  '/download/%2e%2e%2fsecret.txt',
  '/download/%2E%2E%2Fsecret.txt',
  '/download/.%2e/secret.txt',
  '/download/%2e./secret.txt',
  '/download/inner/../../secret.txt',
  '/download/inner/%2e%2e/%2e%2e/secret.txt',
  '/download//../secret.txt',
  '//download/../../secret.txt',
  '/download/..\\secret.txt',
  '/download\\..\\secret.txt',
  '/download/..%5csecret.txt',
  '/download/%5c..%5csecret.txt',
  '/download/..%255csecret.txt',
  '/download/%252e%252e/secret.txt',
  '/download/%c0%ae%c0%ae/secret.txt',
  '/download/..;/secret.txt',
  '/download/readme.txt%00.png',
  '/download/%00../secret.txt',
  '/download/link-outside.txt',
  '/download/escape/secret.txt',
  '/download/escape/',
  '/download/.hidden',
  '/download/%2ehidden',
  '/download/',
  'http://files.test/download/../secret.txt',
];

describe.each(RUNTIMES.filter((runtime) => runtime !== 'workerd'))('static folder through the router on %s', (runtime) => {
  let dir: string;
  let router: RouterProcess;
  let origin: Awaited<ReturnType<typeof startOrigin>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rr-static-e2e-'));
    const root = join(dir, 'download');
    mkdirSync(join(root, 'inner'), { recursive: true });
    writeFileSync(join(root, 'readme.txt'), 'hello from the download folder\n');
    writeFileSync(join(root, 'large.bin'), LARGE);
    writeFileSync(join(root, '.hidden'), SECRET);
    writeFileSync(join(dir, 'secret.txt'), SECRET);
    symlinkSync(join(dir, 'secret.txt'), join(root, 'link-outside.txt'));
    symlinkSync(dir, join(root, 'escape'));
    // The upstream answers everything the folder does not: never with the secret.
    origin = await startOrigin((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain', 'x-origin': 'yes' });
      res.end('origin: not here\n');
    });
    router = await startRouter(
      runtime,
      { sites: [{ name: 'files', hosts: ['files.test'], upstream: origin.url, static: [{ prefix: '/download', dir: root }] }] },
      { quiet: true },
    );
  });

  afterAll(async () => {
    await router?.stop();
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves content with length, validators, 304, HEAD and a range', async () => {
    const file = await raw(router.port, '/download/readme.txt');
    expect(file.status).toBe(200);
    expect(file.body.toString()).toBe('hello from the download folder\n');
    expect(file.headers['content-length']).toBe('31');
    expect(file.headers['content-type']).toBe('text/plain; charset=utf-8');
    const etag = file.headers.etag!;
    expect(etag).toMatch(/^"[0-9a-f]+-1f"$/);

    const cached = await raw(router.port, '/download/readme.txt', { 'If-None-Match': etag });
    expect([cached.status, cached.body.length]).toEqual([304, 0]);
    const since = await raw(router.port, '/download/readme.txt', { 'If-Modified-Since': file.headers['last-modified']! });
    expect(since.status).toBe(304);

    const head = await raw(router.port, '/download/large.bin', {}, 'HEAD');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(LARGE.length), 0]);

    const large = await raw(router.port, '/download/large.bin');
    expect(large.body.equals(LARGE)).toBe(true);
    const part = await raw(router.port, '/download/large.bin', { Range: 'bytes=1048570-1048589' });
    expect([part.status, part.headers['content-range'], part.headers['content-length']]).toEqual([206, `bytes 1048570-1048589/${LARGE.length}`, '20']);
    expect(part.body.equals(LARGE.subarray(1048570, 1048590))).toBe(true);
    const beyond = await raw(router.port, '/download/large.bin', { Range: `bytes=${LARGE.length}-` });
    expect([beyond.status, beyond.headers['content-range']]).toEqual([416, `bytes */${LARGE.length}`]);
  });

  it('never serves anything outside the folder, whatever the request target', async () => {
    const results: Array<{ target: string; status: number }> = [];
    for (const target of ATTACKS) {
      const reply = await raw(router.port, target);
      expect(reply.body.toString('latin1'), target).not.toContain(SECRET);
      expect(reply.body.toString('latin1'), target).not.toContain('root:');
      results.push({ target, status: reply.status });
    }
    // 400 (refused) or 404 (router or origin): never 200, never a redirect elsewhere.
    expect(results.filter(({ status }) => status !== 400 && status !== 404)).toEqual([]);
    // The folder itself refuses encoded separators and dot segments with 400.
    const refused = results.filter(({ status }) => status === 400).map(({ target }) => target);
    expect(refused).toEqual(expect.arrayContaining(['/download/..%2fsecret.txt', '/download/..%5csecret.txt', '/download/readme.txt%00.png']));
  });
});
