/**
 * Nexus raw repositories through the router (`"preset": "raw"`), against one nginx per suite standing
 * in for raw hosted (WebDAV PUT/DELETE) and a raw group (reads of hosted, then a "proxy" folder), laid
 * out path-based as Nexus serves them (test/support/raw.ts):
 *
 * 1. real `curl` (uploads with `--upload-file`/`-T`, downloads, `-I`, `-X DELETE`, a mistaken `-F` form
 *    upload) through the router on node and bun-node: bytes land in hosted and come back from the
 *    group; the form upload gets the router's 405 in plain text saying how to upload, and reaches
 *    nothing; every request line nginx logged is the fixture's (test/rules/raw-fixtures.ts), on the
 *    server of its role;
 * 2. the fixture's request lines replayed through the router on all five runtimes, each reaching the
 *    server of its role (the refused one none);
 * 3. `check --probe` with the raw format's health check: a raw repository's root answering 404 is up.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeUpstreams } from '../../src/cli/probe.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { RAW_REQUESTS } from '../rules/raw-fixtures.ts';
import { startRawRepos, type RawRepos, type RawRequest } from '../support/raw.ts';
import { logLinesAfter } from '../support/nginx-process.ts';
import { RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';

const SERVER_OF = { read: 'group', write: 'hosted' } as const;
const PROXY_FILE = 'vendor/lib-2.3.zip';
const PROXY_CONTENT = 'lib 2.3, held by the proxy member\n';

const rawSite = (repos: RawRepos): ConfigInput['sites'][number] => ({
  name: 'raw',
  hosts: ['127.0.0.1'],
  preset: 'raw',
  upstreams: { read: repos.groupUrl, write: repos.hostedUrl },
});

interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs curl (never through a proxy from the environment); `-w` prints the status last on stdout. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--noproxy', '*', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The request lines nginx logged since `before`, as `METHOD /path → server status`. */
const lines = (requests: RawRequest[]) => requests.map((r) => `${r.method} ${r.uri} → ${r.server} ${r.status}`);

let work: string;
let small: string;
let smallV2: string;
let big: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'rr-raw-client-'));
  small = path.join(work, 'app.tar.gz');
  smallV2 = path.join(work, 'app-v2.tar.gz');
  big = path.join(work, 'big.bin');
  await writeFile(small, randomBytes(64 * 1024));
  await writeFile(smallV2, randomBytes(80 * 1024));
  // Larger than any buffer on the way: the upload streams.
  await writeFile(big, randomBytes(24 * 1024 * 1024));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(['node', 'bun-node'] as const)('curl through the router to Nexus-like raw repositories on %s', (runtime) => {
  let repos: RawRepos;
  let router: RouterProcess;
  let url: (p: string) => string;

  beforeAll(async () => {
    repos = await startRawRepos({ [PROXY_FILE]: PROXY_CONTENT });
    router = await startRouter(runtime, { sites: [rawSite(repos)] }, { quiet: true });
    url = (p) => `${router.url}${p}`;
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it("runs the fixture's curl commands: uploads land in hosted, downloads come from the group, the form upload is refused", async () => {
    const status = (result: CurlResult) => result.stdout.slice(-3);
    const out = path.join(work, `out-${runtime}`);

    const put = await curl(['--fail-with-body', '-w', '%{http_code}', '--upload-file', small, url('/tools/app-1.0.tar.gz')]);
    expect(put.code, put.stderr + put.stdout).toBe(0);
    expect(status(put)).toBe('201');
    expect(await readFile(path.join(repos.hostedDir, 'tools/app-1.0.tar.gz'))).toEqual(await readFile(small));

    // A URL ending in `/`: curl appends the file's name.
    const dir = await curl(['--fail-with-body', '-w', '%{http_code}', '-T', small, url('/tools/nested/deeper/')]);
    expect(dir.code, dir.stderr + dir.stdout).toBe(0);
    expect(await readFile(path.join(repos.hostedDir, 'tools/nested/deeper/app.tar.gz'))).toEqual(await readFile(small));

    const get = await curl(['--fail-with-body', '-o', out, url('/tools/app-1.0.tar.gz')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await readFile(out)).toEqual(await readFile(small));

    const head = await curl(['--fail-with-body', '-I', url('/tools/app-1.0.tar.gz')]);
    expect(head.code, head.stderr).toBe(0);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(head.stdout).toMatch(new RegExp(`content-length: ${64 * 1024}\\r?\\n`, 'i'));

    const proxied = await curl(['--fail-with-body', '-o', out, url(`/${PROXY_FILE}`)]);
    expect(proxied.code, proxied.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(PROXY_CONTENT);

    const overwrite = await curl(['--fail-with-body', '-w', '%{http_code}', '--upload-file', smallV2, url('/tools/app-1.0.tar.gz')]);
    expect(overwrite.code, overwrite.stderr + overwrite.stdout).toBe(0);
    expect(await readFile(path.join(repos.hostedDir, 'tools/app-1.0.tar.gz'))).toEqual(await readFile(smallV2));

    // The usual mistake: a form upload. The router answers 405 itself, in plain text, saying how to upload.
    const form = await curl(['-w', '\n%{http_code} %{content_type}', '-F', `file=@${small}`, url('/tools/form.tar.gz')]);
    expect(form.code, form.stderr).toBe(0);
    expect(form.stdout).toBe(
      'site raw does not accept POST /tools/form.tar.gz: a Nexus raw repository takes GET and HEAD (downloads), PUT (uploads: curl --upload-file FILE URL) ' +
        'and DELETE\n\n405 text/plain; charset=utf-8',
    );

    const del = await curl(['--fail-with-body', '-w', '%{http_code}', '-X', 'DELETE', url('/tools/app-1.0.tar.gz')]);
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(status(del)).toBe('204');
    const gone = await curl(['-o', '/dev/null', '-w', '%{http_code}', url('/tools/app-1.0.tar.gz')]);
    expect(gone.stdout).toBe('404');

    // Every line nginx logged is the fixture's, on the server of its role; the refused one reached nothing.
    const forwarded = RAW_REQUESTS.filter((r) => r.expected !== 'deny');
    const logged = await logLinesAfter(() => repos.requests(), 0, forwarded.length);
    expect(logged.map((r) => `${r.method} ${r.uri.replace(/^\/repository\/raw-(hosted|group)/, '')} → ${r.server}`)).toEqual(
      forwarded.map((r) => `${r.method} ${r.path} → ${SERVER_OF[r.expected as 'read' | 'write']}`),
    );
    // The router kept each repository's path prefix.
    expect(lines(logged).filter((line) => !/^\w+ \/repository\/raw-(hosted|group)\//.test(line))).toEqual([]);
  });

  it('streams a 24 MiB upload to hosted and back from the group byte for byte', async () => {
    const put = await curl(['--fail-with-body', '-w', '%{http_code}', '--upload-file', big, url('/big/big.bin')]);
    expect(put.code, put.stderr + put.stdout).toBe(0);
    const out = path.join(work, `big-${runtime}`);
    const get = await curl(['--fail-with-body', '-o', out, url('/big/big.bin')]);
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(out)).equals(await readFile(big))).toBe(true);
  });
});

describe.each(RUNTIMES)('raw request lines replayed through the router on %s', (runtime: Runtime) => {
  let repos: RawRepos;
  let router: RouterProcess;

  beforeAll(async () => {
    repos = await startRawRepos({ [PROXY_FILE]: PROXY_CONTENT });
    router = await startRouter(runtime, { sites: [rawSite(repos)] }, { quiet: true });
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it(`each of the ${RAW_REQUESTS.length} lines curl sends reaches the server of its role (the refused one: 405 from the router)`, async () => {
    const reached: string[] = [];
    for (const request of RAW_REQUESTS) {
      const before = (await repos.requests()).length;
      const body = request.method === 'PUT' || request.method === 'POST' ? `${request.command}\n` : undefined;
      const response = await fetch(`${router.url}${request.path}`, { method: request.method, body });
      const text = await response.text();
      const seen = await logLinesAfter(() => repos.requests(), before, request.expected === 'deny' ? 0 : 1);
      if (request.expected === 'deny') {
        expect(response.status).toBe(405);
        expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
        expect(text).toMatch(/^site raw does not accept POST \/tools\/form\.tar\.gz: .*curl --upload-file FILE URL/);
      }
      reached.push(`${request.method} ${request.path} → ${seen.map((r) => r.server).join('+') || 'deny'}`);
    }
    expect(reached).toEqual(RAW_REQUESTS.map((r) => `${r.method} ${r.path} → ${r.expected === 'deny' ? 'deny' : SERVER_OF[r.expected]}`));
  });
});

describe('check --probe on a raw site', () => {
  let repos: RawRepos;
  beforeAll(async () => {
    repos = await startRawRepos();
  });
  afterAll(async () => {
    await repos?.destroy();
  });

  const probe = async (preset: 'raw' | 'generic'): Promise<{ ok: boolean; out: string }> => {
    let out = '';
    const config = parseConfig({ sites: [{ ...rawSite(repos), preset }] } as ConfigInput);
    const ok = await probeUpstreams(config, undiciClient({ connect: 2, idle: 5 }), {
      out: (text) => {
        out += text;
      },
      err: () => {},
    });
    return { ok, out };
  };

  it('counts the repository root\'s 404 ("You can\'t browse this way") as a live raw repository', async () => {
    const raw = await probe('raw');
    expect(raw.out).toMatch(/probe raw read +GET http:\/\/127\.0\.0\.1:\d+\/repository\/raw-group\/ {2}→ 404 Not Found \(healthy\)/);
    expect(raw.out).toMatch(/probe raw write +GET http:\/\/127\.0\.0\.1:\d+\/repository\/raw-hosted\/ {2}→ 404 Not Found \(healthy\)/);
    expect(raw.ok).toBe(true);
    // The generic format knows no such answer: the same repositories fail its probe (200–399).
    const generic = await probe('generic');
    expect(generic.out).toContain('not healthy (expected 200–399)');
    expect(generic.ok).toBe(false);
  });
});
