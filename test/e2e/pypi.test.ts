/**
 * Python packaging through the router with the real clients: Debian's `twine` uploads a wheel and an
 * sdist, `pip` installs them in fresh venvs with the router as its only index. Behind the router a
 * Nexus-like PyPI origin (test/support/pypi.ts): `/repository/pypi-hosted/` (write) and
 * `/repository/pypi-group/` (read) on one port, sharing one folder. One suite per runtime, each with
 * its own origin, in the order a user works:
 *
 * 1. `twine upload` of a wheel and an sdist → hosted;
 * 2. the same wheel again: without `--skip-existing` twine fails and prints the reason phrase of
 *    the origin's `400 File already exists.`; with it twine skips the file (it reads "already
 *    exist" in the reason or the body);
 * 3. the reason phrase a client gets through the router, on a raw socket;
 * 4. `pip install` of the wheel with every kind of link the group may write (relative
 *    `../../packages/…`, absolute with the router's public name plus `/repository/pypi-group/`,
 *    absolute with the origin's own address), from PEP 503 HTML and from PEP 691 JSON;
 * 5. `pip install --no-binary :all:`: the sdist, built in the venv (in-tree backend, no index needed);
 * 6. the JSON API and the `/simple/` index with absolute links, mapped;
 * 7. every request the clients sent is in test/rules/pypi-fixtures.ts, and reached the repository
 *    the fixture says; no upload ever reached the group.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYPI_REQUESTS } from '../rules/pypi-fixtures.ts';
import {
  buildDists,
  pipInstall,
  pythonTools,
  SIMPLE_JSON,
  startPypiOrigin,
  twineUpload,
  uploadForm,
  type Dists,
  type LinkMode,
  type PypiLogEntry,
  type PypiOrigin,
  type PythonTools,
} from '../support/pypi.ts';
import { RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';

const USER = 'u';
const PASSWORD = 'p';

/**
 * The status line's reason phrase a client gets through the router when the origin answers
 * `400 File already exists.` ('origin': that phrase; otherwise the one the runtime writes).
 * Measured with a raw socket. What each server API can write at all (probed alone, outside the
 * router): node:http can (`res.writeHead(400, 'File already exists.')`, on Node, Bun and Deno
 * alike), @hono/node-server cannot (it calls `writeHead(status, headers)`: Node's canonical
 * phrase), Bun.serve and Deno.serve cannot (`statusText` is ignored, they write the canonical
 * phrase), workerd writes `Response.statusText`.
 */
const REASON: Record<Runtime, 'origin' | string> = {
  node: 'origin',
  // `bun run src/node.ts` serves a PyPI site over plain HTTP through Bun's node:http, which writes the phrase
  // (src/adapter/node/on-bun.ts: bunServerFor); `bun run src/bun.ts` is Bun.serve whatever the sites.
  'bun-node': 'origin',
  bun: 'Bad Request',
  deno: 'Bad Request',
  'deno-node': 'origin',
  workerd: 'origin',
};

let tools: PythonTools;
let dists: Dists;

beforeAll(async () => {
  tools = await pythonTools();
  dists = await buildDists(`${tools.work}/dist`, 'Router_Demo', '1.0.0');
});

afterAll(async () => {
  await tools?.destroy();
});

/** The path a client sent, from what the origin received (its repository prefix removed). */
const clientPath = (entry: PypiLogEntry): string => entry.url.replace(/^\/repository\/[^/]+/, '') || '/';

/** Sends one request on a raw socket and returns the status line as it came. */
function statusLine(port: number, head: string, body: Buffer): Promise<string> {
  return new Promise((done, fail) => {
    // Written, not ended: a half-closed client counts as gone for some servers.
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(head), body])));
    let received = '';
    socket.setEncoding('latin1');
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        done(received.slice(0, end));
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`connection closed before a status line: ${JSON.stringify(received)}`)));
  });
}

describe.each(RUNTIMES)('pypi through the router on %s', (runtime) => {
  let origin: PypiOrigin;
  let router: RouterProcess;
  /** Requests of each client step, for the fixture comparison at the end. */
  const steps: Array<{ step: string; entries: PypiLogEntry[] }> = [];

  beforeAll(async () => {
    origin = await startPypiOrigin({ users: { [USER]: PASSWORD } });
    router = await startRouter(
      runtime,
      {
        sites: [{ name: 'pypi', hosts: ['127.0.0.1'], preset: 'pypi', upstreams: { read: origin.groupUrl, write: origin.hostedUrl } }],
      },
      { quiet: true },
    );
  });

  afterAll(async () => {
    await router?.stop();
    await origin?.close();
  });

  /** Runs a client step and keeps the requests it caused. */
  async function step<T>(name: string, action: () => Promise<T>): Promise<{ result: T; entries: PypiLogEntry[] }> {
    const mark = origin.mark();
    const result = await action();
    const entries = origin.since(mark);
    steps.push({ step: name, entries });
    return { result, entries };
  }

  it('twine uploads a wheel and an sdist to hosted', async () => {
    const { result, entries } = await step('twine upload', () => twineUpload(tools, `${router.url}/`, [dists.wheel.path, dists.sdist.path]));
    expect(result.code, result.output).toBe(0);
    expect(await origin.files(dists.name)).toEqual([dists.wheel.filename, dists.sdist.filename].sort());
    expect(entries.map((e) => [e.repository, e.method, e.url, e.status, e.action, e.filename])).toEqual([
      ['pypi-hosted', 'POST', '/repository/pypi-hosted/', 200, 'file_upload', dists.wheel.filename],
      ['pypi-hosted', 'POST', '/repository/pypi-hosted/', 200, 'file_upload', dists.sdist.filename],
    ]);
    expect(entries.every((e) => e.viaProxy)).toBe(true);
  });

  const phrase = REASON[runtime] === 'origin' ? 'of the origin' : `"${REASON[runtime]}"`;
  it(`a second upload of the same file fails with the reason phrase ${phrase}; --skip-existing skips it`, async () => {
    const again = await step('twine upload (again)', () => twineUpload(tools, `${router.url}/`, [dists.wheel.path]));
    expect(again.result.code, again.result.output).toBe(1);
    // twine prints `HTTPError: 400 Bad Request from <url>` (its own phrase for the code) and, on the next line, the reason phrase it got.
    expect(again.result.output).toMatch(/HTTPError: 400 Bad Request from\s+http:\/\/127\.0\.0\.1:\d+\//);
    const reason = REASON[runtime] === 'origin' ? 'File already exists.' : REASON[runtime];
    expect(again.result.output.replace(/\s+/g, ' ')).toContain(`${router.url}/ ${reason}`);
    expect(again.entries.map((e) => [e.repository, e.method, e.status, e.reason])).toEqual([['pypi-hosted', 'POST', 400, 'File already exists.']]);

    const skip = await step('twine upload --skip-existing (again)', () =>
      twineUpload(tools, `${router.url}/`, [dists.wheel.path, dists.sdist.path], ['--skip-existing']),
    );
    expect(skip.result.code, skip.result.output).toBe(0);
    expect(skip.result.output.replace(/\s+/g, ' ')).toContain(`Skipping ${dists.wheel.filename} because it appears to already exist`);
    expect(skip.result.output.replace(/\s+/g, ' ')).toContain(`Skipping ${dists.sdist.filename} because it appears to already exist`);
    expect(skip.entries.map((e) => [e.repository, e.method, e.status])).toEqual([
      ['pypi-hosted', 'POST', 400],
      ['pypi-hosted', 'POST', 400],
    ]);
  });

  it('the reason phrase of the origin’s 400, on a raw socket', async () => {
    const bytes = await readFile(dists.wheel.path);
    const form = uploadForm(dists.wheel, bytes, dists.name, dists.version);
    const head = (port: number) =>
      `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Authorization: Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}\r\n` +
      `Content-Type: ${form.contentType}\r\nContent-Length: ${form.body.length}\r\nConnection: close\r\n\r\n`;
    const direct = await statusLine(Number(new URL(origin.url).port), head(0).replace('POST / ', 'POST /repository/pypi-hosted/ '), form.body);
    const routed = await statusLine(router.port, head(router.port), form.body);
    console.info(`${runtime}: origin "${direct}", through the router "${routed}"`);
    expect(direct).toBe('HTTP/1.1 400 File already exists.');
    expect(routed).toBe(`HTTP/1.1 400 ${REASON[runtime] === 'origin' ? 'File already exists.' : REASON[runtime]}`);
  });

  const installs: Array<[format: 'HTML' | 'JSON', links: LinkMode]> = [
    ['HTML', 'relative'],
    ['HTML', 'absolute'],
    ['HTML', 'internal'],
    ['JSON', 'relative'],
    ['JSON', 'absolute'],
    ['JSON', 'internal'],
  ];
  it.each(installs)('pip installs the wheel from %s pages with %s links, in a fresh venv', async (format, links) => {
    origin.options.json = format === 'JSON';
    origin.options.links = links;
    const { result, entries } = await step(`pip install (${format}, ${links})`, () => pipInstall(tools, `${router.url}/simple`, 'router.demo', dists.module));
    expect(result.code, result.output).toBe(0);
    expect(result.imported).toBe(dists.version);
    expect(entries.map((e) => [e.repository, e.method, e.url, e.status])).toEqual([
      ['pypi-group', 'GET', '/repository/pypi-group/simple/router-demo/', 200],
      ['pypi-group', 'GET', `/repository/pypi-group/packages/router-demo/1.0.0/${dists.wheel.filename}`, 200],
    ]);
    expect(entries[0]!.responseType).toMatch(format === 'JSON' ? SIMPLE_JSON : /^text\/html/);
    // Every request came through the router: no link led pip to the origin itself.
    expect(entries.every((e) => e.viaProxy)).toBe(true);
  });

  it('pip builds and installs the sdist (--no-binary :all:) in a fresh venv', async () => {
    origin.options.json = false;
    origin.options.links = 'absolute';
    const { result, entries } = await step('pip install --no-binary (HTML, absolute)', () =>
      pipInstall(tools, `${router.url}/simple`, 'Router-Demo', dists.module, ['--no-binary', ':all:']),
    );
    expect(result.code, result.output).toBe(0);
    expect(result.imported).toBe(dists.version);
    expect(entries.map((e) => [e.repository, e.method, e.url, e.status])).toEqual([
      ['pypi-group', 'GET', '/repository/pypi-group/simple/router-demo/', 200],
      ['pypi-group', 'GET', `/repository/pypi-group/packages/router-demo/1.0.0/${dists.sdist.filename}`, 200],
    ]);
    expect(entries.every((e) => e.viaProxy)).toBe(true);
  });

  it.each(['absolute', 'internal'] as const)('maps %s links in the JSON API and the /simple/ index to the public name', async (links) => {
    origin.options.json = true;
    origin.options.links = links;
    const api = await fetch(`${router.url}/pypi/router-demo/json`);
    expect(api.status).toBe(200);
    const body = (await api.json()) as {
      urls: Array<{ url: string; filename: string; digests: { sha256: string } }>;
      releases: Record<string, Array<{ url: string }>>;
    };
    expect(body.urls.map((file) => file.url).sort()).toEqual(
      [dists.sdist.filename, dists.wheel.filename].sort().map((name) => `${router.url}/packages/router-demo/1.0.0/${name}`),
    );
    expect(body.releases['1.0.0']!.map((file) => file.url).sort()).toEqual(body.urls.map((file) => file.url).sort());
    const wheel = body.urls.find((file) => file.filename === dists.wheel.filename)!;
    const download = await fetch(wheel.url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(await readFile(dists.wheel.path))).toBe(true);

    const index = await fetch(`${router.url}/simple/`, { headers: { accept: 'text/html' } });
    expect(index.status).toBe(200);
    expect(await index.text()).toContain(`<a href="${router.url}/simple/router-demo/">router-demo</a>`);
    const project = await fetch(`${router.url}/simple/router-demo/`, { headers: { accept: SIMPLE_JSON } });
    expect(project.headers.get('content-type')).toBe(SIMPLE_JSON);
    const files = ((await project.json()) as { files: Array<{ url: string }> }).files;
    expect(files.map((file) => file.url).sort()).toEqual(
      [dists.sdist.filename, dists.wheel.filename].sort().map((name) => `${router.url}/packages/router-demo/1.0.0/${name}`),
    );
  });

  it('each client step sent exactly the requests test/rules/pypi-fixtures.ts lists, to the repository it names; no upload reached the group', () => {
    expect(steps.map((s) => s.step)).toEqual([...new Set(PYPI_REQUESTS.map((r) => r.step))]);
    for (const { step: name, entries } of steps) {
      const got = entries.map((e) => ({
        step: name,
        method: e.method,
        path: clientPath(e),
        expected: e.repository === 'pypi-hosted' ? 'write' : 'read',
        contentType: e.contentType?.replace(/boundary=\S+/, 'boundary=…'),
        accept: e.accept,
      }));
      expect(got, name).toEqual(PYPI_REQUESTS.filter((r) => r.step === name).map((r) => ({ contentType: undefined, accept: undefined, ...r })));
    }
    expect(origin.log.filter((e) => e.repository === 'pypi-group' && !['GET', 'HEAD'].includes(e.method))).toEqual([]);
  });
});
