/**
 * Nexus NuGet repositories through the router (`"preset": "nuget"`), against the in-process hosted and group
 * stand-ins of test/support/nuget.ts (their answer shapes and where each comes from are listed there):
 *
 * 1. real `nuget` 2.8.7 on Mono (Debian 12; a V2 client) through the router on node and bun-node, the source
 *    being the router's bare host: `nuget push` sends `PUT /api/v2/package/`, which lands at hosted's root with
 *    the API key passed unchanged; a second push of one version prints hosted's 400 reason phrase; `nuget
 *    install` resolves the pushed package and its dependency (held by the group's "proxy" member) through the
 *    group, every download at the router's own URL; `nuget list` lists both; `nuget delete` (`DELETE
 *    /api/v2/package/<id>/<version>`) removes the version from hosted; a push to a site whose hosted is down
 *    prints the router's own message (nuget shows only the reason phrase); every request line the stand-ins
 *    logged is the fixture's (test/rules/nuget-fixtures.ts), on the server of its role, with the prefix taken off;
 * 2. the V2 feed and V3 documents through the router: no internal URL left (`xml:base`, entry `<id>`,
 *    `<content src>`, the `next` link with its query as written; every `@id`, `packageContent`,
 *    `registration`), nuget.org's URL left alone, and the group's service index given a `PackagePublish/2.0.0`
 *    resource naming the router's push URL, which takes a push, streamed (chunked, as NuGet 3.5+ pushes) too;
 * 3. the fixture's request lines replayed through the router on all five runtimes, each reaching the server
 *    of its role with the path hosted or the group expects;
 * 4. `check --probe` with the NuGet format's health check.
 *
 * nuget never touches the machine's configuration or the network: HOME (its NuGet.Config, caches, Mono's
 * folders) lives in the suite's temporary folder, and every source is the router. nuget's `list` wraps its
 * output to the console's width, which Mono reads as 0 without a terminal (an endless run of empty lines):
 * it runs under `script` with a 200-column pseudo-terminal.
 *
 * nuget 2.8.7 on Mono now and then stays alive 20–40 s after its last line of output (about one invocation in 70
 * here, with the router's answers all logged, its connections all closed and every thread of the process in a
 * futex wait): the first test's timeout leaves room for two such stalls, so that a stall is slow, not red.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeUpstreams } from '../../src/cli/probe.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { NUGET_REQUESTS } from '../rules/nuget-fixtures.ts';
import { type NuGetRepos, startNuGetRepos } from '../support/nuget.ts';
import { freePort } from '../support/ports.ts';
import { RUNTIMES, type RouterProcess, type Runtime, startRouter } from '../support/router.ts';
import { run } from '../support/rubygems.ts';

const SERVER_OF = { read: 'group', write: 'hosted' } as const;
const API_KEY = 'rr-4f1c2b7e-nuget-key';
const PREFIX = /^\/repository\/nuget-(hosted|group)/;

const nugetSite = (repos: NuGetRepos): ConfigInput['sites'][number] => ({
  name: 'nuget',
  hosts: ['127.0.0.1'],
  preset: 'nuget',
  upstreams: { read: repos.groupUrl, write: repos.hostedUrl },
});

let work: string;
let dep: Buffer;
const hello: Record<string, string> = {};

/** An environment for nuget and Mono that reads and writes nothing of the machine's. */
/**
 * Mono 6.8 sometimes aborts while it shuts down, after the program has ended: the assertion
 * "mono-threads.c: previous_token == NULL || previous_token == INTERRUPT_STATE" when a thread is
 * aborted at exit (mono/mono#10832), then a native crash report and SIGABRT, so the exit code says
 * nothing of the command (seen once in CI right after "Your package was pushed.", the package
 * pushed). Mono writes the assertion and its report to stdout, gdb's thread dump to stderr. nuget
 * 2.8.7 writes a failure to stderr: without that dump, an empty stderr reads as exit 0 and any text
 * as exit 1, as nuget itself exits. What the tests assert of the output and of the repositories
 * stays as it is.
 */
function monoExitAbortRead(result: Awaited<ReturnType<typeof run>>): Awaited<ReturnType<typeof run>> {
  const assertion = "previous_token == NULL || previous_token == INTERRUPT_STATE' not met";
  if (result.code === 0 || !`${result.stdout}${result.stderr}`.includes(assertion)) return result;
  const own = result.stderr
    .replace(/=+\s*\n\s*External Debugger Dump:[\s\S]*?\[Inferior \d+ \(process \d+\) detached\]/, '')
    .replace(/\* Assertion at mono-threads\.c[\s\S]*$/, '');
  const code = own.trim() ? 1 : 0;
  console.info(`nuget: Mono aborted at exit (mono/mono#10832), read as exit ${code}`);
  return { ...result, code };
}

const nugetEnv = (home: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') });

/** `nuget pack` of a nuspec with one content file: the .nupkg's path. */
async function pack(dir: string, env: NodeJS.ProcessEnv, id: string, version: string, dependency?: string): Promise<string> {
  const folder = path.join(dir, `${id}-${version}`);
  await mkdir(path.join(folder, 'content'), { recursive: true });
  await writeFile(path.join(folder, 'content', `${id}.txt`), `${id} ${version}\n`);
  const dependencies = dependency ? `<dependencies><dependency id="${dependency}" version="2.0.0" /></dependencies>` : '';
  await writeFile(
    path.join(folder, `${id}.nuspec`),
    '<?xml version="1.0"?>\n<package xmlns="http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd"><metadata>' +
      `<id>${id}</id><version>${version}</version><authors>rr</authors><description>${id} for the router's tests</description>${dependencies}` +
      `</metadata><files><file src="content/${id}.txt" target="content/${id}.txt" /></files></package>\n`,
  );
  const packed = await run('nuget', ['pack', `${id}.nuspec`, '-NonInteractive'], { env, cwd: folder });
  if (packed.code !== 0) throw new Error(`nuget pack ${id} ${version} failed:\n${packed.stdout}${packed.stderr}`);
  return path.join(folder, `${id}.${version}.nupkg`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'rr-nuget-client-'));
  const env = nugetEnv(path.join(work, 'build-home'));
  const [depFile, one, two] = await Promise.all([
    pack(work, env, 'RrDep', '2.0.0'),
    pack(work, env, 'RrHello', '1.0.0', 'RrDep'),
    pack(work, env, 'RrHello', '1.1.0', 'RrDep'),
  ]);
  dep = await readFile(depFile);
  hello['1.0.0'] = one;
  hello['1.1.0'] = two;
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(['node', 'bun-node'] as const)('nuget through the router to Nexus-like NuGet repositories on %s', (runtime) => {
  let repos: NuGetRepos;
  let router: RouterProcess;
  let env: NodeJS.ProcessEnv;
  let home: string;

  beforeAll(async () => {
    repos = await startNuGetRepos({ proxy: [dep], apiKey: API_KEY });
    // A second site whose hosted repository is down: the router's own error, as nuget prints it.
    const down = `http://127.0.0.1:${await freePort()}/repository/nuget-hosted/`;
    const sites = [nugetSite(repos), { ...nugetSite(repos), name: 'nuget-down', hosts: ['localhost'], upstreams: { read: repos.groupUrl, write: down } }];
    router = await startRouter(runtime, { sites }, { quiet: true });
    home = path.join(work, `home-${runtime}`);
    await mkdir(home, { recursive: true });
    env = nugetEnv(home);
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it('pushes to /api/v2/package/ (hosted root), installs and lists through the group, prints refusals, deletes', async () => {
    const nuget = async (...args: string[]) => monoExitAbortRead(await run('nuget', [...args, '-NonInteractive'], { env, cwd: home }));
    // nuget 2.8.7 on Mono reads an absolute package path as relative to the folder it runs in: a relative one.
    const file = (version: string) => path.relative(home, hello[version]!);
    const source = `${router.url}/`;

    const push = await nuget('push', file('1.0.0'), '-Source', source, '-ApiKey', API_KEY);
    expect(push.code, push.stderr + push.stdout).toBe(0);
    expect(push.stdout).toContain('Your package was pushed.');
    expect([...repos.hosted.keys()]).toEqual(['rrhello/1.0.0']);
    // Hosted's reason phrase passes, and nuget prints it.
    const again = await nuget('push', file('1.0.0'), '-Source', source, '-ApiKey', API_KEY);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("Failed to process request. 'Repository does not allow updating assets: nuget-hosted'.");
    const push2 = await nuget('push', file('1.1.0'), '-Source', router.url, '-ApiKey', API_KEY);
    expect(push2.code, push2.stderr + push2.stdout).toBe(0);

    const out = path.join(home, 'packages');
    const install = await nuget('install', 'RrHello', '-Version', '1.0.0', '-Source', source, '-OutputDirectory', out, '-NoCache');
    expect(install.code, install.stderr + install.stdout).toBe(0);
    expect(install.stdout).toContain("Successfully installed 'RrDep 2.0.0'.");
    expect(install.stdout).toContain("Successfully installed 'RrHello 1.0.0'.");
    expect(await readFile(path.join(out, 'RrHello.1.0.0/content/RrHello.txt'), 'utf8')).toBe('RrHello 1.0.0\n');
    expect(existsSync(path.join(out, 'RrDep.2.0.0/RrDep.2.0.0.nupkg'))).toBe(true);

    // nuget list wraps to the console's width: a pseudo-terminal with 200 columns (see the file's comment).
    const list = await run('script', ['-qec', `stty cols 200 rows 50; nuget list Rr -AllVersions -Source ${source} -NonInteractive`, '/dev/null'], {
      env,
      cwd: home,
    });
    // The terminal's escape sequences (ESC [ … letter, ESC = and ESC >) taken out.
    const listed = list.stdout.replace(/\x1b(\[[?0-9;]*[a-zA-Z]|[=>])/g, '').replaceAll('\r', '');
    expect(listed.trim().split('\n')).toEqual(['RrDep 2.0.0', 'RrHello 1.0.0', 'RrHello 1.1.0']);

    const remove = await nuget('delete', 'RrHello', '1.0.0', '-Source', source, '-ApiKey', API_KEY);
    expect(remove.code, remove.stderr + remove.stdout).toBe(0);
    expect(remove.stdout).toContain('RrHello 1.0.0 was deleted successfully.');
    expect([...repos.hosted.keys()]).toEqual(['rrhello/1.1.0']);

    // The router's own error: nuget prints the reason phrase only, so the message is there.
    const down = await nuget('push', file('1.1.0'), '-Source', `${router.url.replace('127.0.0.1', 'localhost')}/`, '-ApiKey', API_KEY);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Failed to process request\. 'write upstream of site nuget-down: 127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)'\./);

    const logged = repos.requests();
    expect(logged.map((r) => `${r.method} ${r.uri.replace(PREFIX, '')} → ${r.server}`)).toEqual(
      NUGET_REQUESTS.map((r) => `${r.method} ${r.upstreamPath ?? r.path} → ${SERVER_OF[r.expected]}`),
    );
    expect(logged.filter((r) => !PREFIX.test(r.uri))).toEqual([]);
    // The API key passes unchanged to hosted; nuget sends none for reads.
    expect(new Set(logged.map((r) => `${r.server} ${r.apiKey}`))).toEqual(new Set([`hosted ${API_KEY}`, 'group ']));
  }, 180_000);
});

describe('NuGet answers through the router on node: V2 feeds and V3 documents name the router only', () => {
  let repos: NuGetRepos;
  let router: RouterProcess;

  beforeAll(async () => {
    repos = await startNuGetRepos({ proxy: [dep], apiKey: API_KEY });
    router = await startRouter('node', { sites: [nugetSite(repos)] }, { quiet: true });
    // Two versions of RrHello in hosted, pushed through the router as curl would (multipart, part "package").
    for (const version of ['1.0.0', '1.1.0']) {
      const form = new FormData();
      form.set('package', new Blob([new Uint8Array(await readFile(hello[version]!))]), 'package.nupkg');
      const pushed = await fetch(`${router.url}/api/v2/package/`, { method: 'PUT', body: form, headers: { 'x-nuget-apikey': API_KEY } });
      expect(pushed.status).toBe(201);
    }
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  const internal = () => [repos.groupUrl, repos.hostedUrl].map((url) => new URL(url).host);

  it('V2: xml:base, entry ids, content src and the next link (query as written) are the public URLs', async () => {
    const search = await fetch(`${router.url}/Search()?searchTerm='Rr'&$skip=0&$top=2`);
    expect(search.headers.get('content-type')).toBe('application/atom+xml;charset=utf-8');
    const text = await search.text();
    expect(text).toContain(`<feed xml:base="${router.url}/" `);
    expect(text).toContain(`<id>${router.url}/Search()</id>`);
    expect(text).toContain(`<id>${router.url}/Packages(Id=&apos;RrDep&apos;,Version=&apos;2.0.0&apos;)</id>`);
    expect(text).toContain(`<content type="application/zip" src="${router.url}/RrHello/1.0.0" />`);
    expect(text).toContain(`<link rel="next" href="${router.url}/Search()?searchTerm=&apos;Rr&apos;&amp;$skip=2&amp;$top=2" />`);
    // Relative links stay relative; nuget.org's schema URLs are not the router's.
    expect(text).toContain('href="Packages(Id=&apos;RrHello&apos;,Version=&apos;1.0.0&apos;)"');
    expect(text).toContain('scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"');
    for (const host of internal()) expect(text).not.toContain(host);
    expect(text).not.toContain('/repository/');

    const root = await (await fetch(`${router.url}/`)).text();
    expect(root).toContain(`<service xml:base="${router.url}/" `);
    // The downloads the feed names are the group's packages, through the router.
    const download = await fetch(`${router.url}/RrHello/1.0.0`);
    expect(Buffer.from(await download.arrayBuffer()).equals(await readFile(hello['1.0.0']!))).toBe(true);
  });

  it('V3: every @id, packageContent and registration is public (nuget.org left alone), and the index gets a PackagePublish', async () => {
    const index = await (await fetch(`${router.url}/index.json`)).json();
    expect(index.resources).toEqual([
      { '@id': `${router.url}/api/v2/package/`, '@type': 'PackagePublish/2.0.0', comment: 'Push URL of the hosted repository, added by registry-router' },
      { '@id': `${router.url}/v3/content/`, '@type': 'PackageBaseAddress/3.0.0' },
      { '@id': `${router.url}/v3/query/0`, '@type': 'SearchQueryService' },
      { '@id': `${router.url}/v3/query/0`, '@type': 'SearchQueryService/3.0.0-beta' },
      { '@id': `${router.url}/v3/registration/`, '@type': 'RegistrationsBaseUrl' },
      { '@id': `${router.url}/v3/registration/`, '@type': 'RegistrationsBaseUrl/3.6.0' },
      { '@id': 'https://api.nuget.org/v3/catalog0/index.json', '@type': 'Catalog/3.0.0' },
    ]);
    // The push URL it names takes a push (to hosted's root), as `dotnet nuget push` to the group's index sends it.
    const form = new FormData();
    form.set('package', new Blob([new Uint8Array(dep)]), 'package.nupkg');
    const pushed = await fetch(index.resources[0]['@id'], { method: 'PUT', body: form, headers: { 'x-nuget-apikey': API_KEY } });
    expect(pushed.status).toBe(201);
    expect(repos.hosted.has('rrdep/2.0.0')).toBe(true);

    // NuGet 3.5+ streams the push (chunked, NuGet/NuGet.Client#436): the same, with no Content-Length.
    await fetch(`${router.url}/api/v2/package/RrDep/2.0.0`, { method: 'DELETE', headers: { 'x-nuget-apikey': API_KEY } });
    expect(repos.hosted.has('rrdep/2.0.0')).toBe(false);
    const boundary = '----rr-chunked-push';
    const parts = [
      `--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="package.nupkg"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      dep,
      `\r\n--${boundary}--\r\n`,
    ];
    const chunked = await fetch(`${router.url}/api/v2/package/`, {
      method: 'PUT',
      body: new ReadableStream({
        start(controller) {
          for (const part of parts) controller.enqueue(typeof part === 'string' ? new TextEncoder().encode(part) : new Uint8Array(part));
          controller.close();
        },
      }),
      duplex: 'half',
      headers: { 'x-nuget-apikey': API_KEY, 'content-type': `multipart/form-data; boundary=${boundary}` },
    } as RequestInit);
    expect(chunked.status).toBe(201);
    expect(repos.hosted.has('rrdep/2.0.0')).toBe(true);
    expect(repos.requests().at(-1)).toMatchObject({ server: 'hosted', method: 'PUT', uri: '/repository/nuget-hosted/', chunked: true });

    const registration = await (await fetch(`${router.url}/v3/registration/rrhello/index.json`)).text();
    const page = JSON.parse(registration);
    expect(page['@id']).toBe(`${router.url}/v3/registration/rrhello/index.json`);
    expect(page.items[0]['@id']).toBe(`${router.url}/v3/registration/rrhello/index.json#page/1.0.0/1.1.0`);
    expect(page.items[0].items.map((leaf: { packageContent: string }) => leaf.packageContent)).toEqual([
      `${router.url}/v3/content/rrhello/1.0.0/rrhello.1.0.0.nupkg`,
      `${router.url}/v3/content/rrhello/1.1.0/rrhello.1.1.0.nupkg`,
    ]);
    expect(page.items[0].items[0].registration).toBe(`${router.url}/v3/registration/rrhello/index.json`);
    expect(page.items[0].items[0].catalogEntry.projectUrl).toBe('https://example.com/rr');
    for (const host of internal()) expect(registration).not.toContain(host);
    const nupkg = await fetch(page.items[0].items[1].packageContent);
    expect(Buffer.from(await nupkg.arrayBuffer()).equals(await readFile(hello['1.1.0']!))).toBe(true);

    const query = await (await fetch(`${router.url}/v3/query/0?q=rrhello`)).json();
    expect(query.data[0].registration).toBe(`${router.url}/v3/registration/rrhello/index.json`);
    expect(query.data[0].versions.map((v: { '@id': string }) => v['@id'])).toEqual([
      `${router.url}/v3/registration/rrhello/1.0.0.json`,
      `${router.url}/v3/registration/rrhello/1.1.0.json`,
    ]);
  });
});

describe.each(RUNTIMES)('NuGet request lines replayed through the router on %s', (runtime: Runtime) => {
  let repos: NuGetRepos;
  let router: RouterProcess;

  beforeAll(async () => {
    repos = await startNuGetRepos({ proxy: [dep], apiKey: API_KEY });
    router = await startRouter(runtime, { sites: [nugetSite(repos)] }, { quiet: true });
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it(`each of the ${NUGET_REQUESTS.length} lines nuget sends reaches the server of its role, at the path it expects`, async () => {
    const reached: string[] = [];
    for (const request of NUGET_REQUESTS) {
      const before = repos.requests().length;
      const body = request.method === 'PUT' ? 'not a package' : undefined;
      const response = await fetch(`${router.url}${request.path}`, { method: request.method, body, headers: { 'x-nuget-apikey': API_KEY } });
      await response.arrayBuffer();
      const seen = repos.requests().slice(before);
      const where = seen.map((r) => `${r.server} ${r.uri.replace(PREFIX, '')} ${r.apiKey}`).join(' + ');
      reached.push(`${request.method} ${request.path} → ${where || 'nothing'}`);
    }
    expect(reached).toEqual(NUGET_REQUESTS.map((r) => `${r.method} ${r.path} → ${SERVER_OF[r.expected]} ${r.upstreamPath ?? r.path} ${API_KEY}`));
  });
});

describe('check --probe on a NuGet site', () => {
  let repos: NuGetRepos;
  beforeAll(async () => {
    repos = await startNuGetRepos({ proxy: [], apiKey: API_KEY });
  });
  afterAll(async () => {
    await repos?.destroy();
  });

  it("asks each repository's root, the V2 service document a Nexus NuGet repository answers 200", async () => {
    let out = '';
    const config = parseConfig({ sites: [nugetSite(repos)] } as ConfigInput);
    const ok = await probeUpstreams(config, undiciClient({ connect: 2, idle: 5 }), {
      out: (text) => {
        out += text;
      },
      err: () => {},
    });
    expect(out).toMatch(/probe nuget read +GET http:\/\/127\.0\.0\.1:\d+\/repository\/nuget-group\/ {2}→ 200 OK \(healthy\)/);
    expect(out).toMatch(/probe nuget write +GET http:\/\/127\.0\.0\.1:\d+\/repository\/nuget-hosted\/ {2}→ 200 OK \(healthy\)/);
    expect(ok).toBe(true);
  });
});
