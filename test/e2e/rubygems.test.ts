/**
 * Nexus RubyGems repositories through the router (`"preset": "rubygems"`), against hosted and group
 * stand-ins built of nginx, `gem generate_index` and a small push/yank server (test/support/rubygems.ts),
 * laid out path-based as Nexus serves them:
 *
 * 1. real `gem` 3.3.15 and `bundle` 2.3.15 (Debian 12) through the router on node and bun-node: `gem push`
 *    with `--host URL/` (RubyGems 3.3 sends `//api/v1/gems`) and `--host URL` lands in hosted with the
 *    credentials file's key passed unchanged; a second push of one version prints hosted's 400 text;
 *    `gem install` and `bundle install` resolve the pushed gem and its dependency (held by the group's
 *    "proxy" member) through the group; a push to a site whose hosted is down prints the router's own
 *    error, which gem shows as it is; `gem yank` removes the version and `gem list --remote` no longer
 *    lists it; every request line nginx logged is the fixture's (test/rules/rubygems-fixtures.ts), on the
 *    server of its role;
 * 2. the fixture's request lines replayed through the router on all five runtimes, each reaching the
 *    server of its role (`//api/v1/gems` included), `Authorization` unchanged;
 * 3. `check --probe` with the RubyGems format's health check.
 *
 * gem and bundle never touch the machine's configuration or the network: HOME, GEM_HOME, the spec cache
 * and Bundler's folders live in the suite's temporary folder, every source is the router
 * (`--clear-sources --source`), and push reads `~/.gem/credentials` (mode 0600) from that HOME.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeUpstreams } from '../../src/cli/probe.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { undiciClient } from '../../src/forward/undici-client.ts';
import { RUBYGEMS_REQUESTS } from '../rules/rubygems-fixtures.ts';
import { freePort } from '../support/ports.ts';
import { logLinesAfter } from '../support/nginx-process.ts';
import { RUNTIMES, startRouter, type RouterProcess, type Runtime } from '../support/router.ts';
import { buildGem, gemEnv, run, startGemRepos, type GemRepos } from '../support/rubygems.ts';

const SERVER_OF = { read: 'group', write: 'hosted' } as const;
// Nexus takes `Basic <base64 user:password>` as the API key (sonatype/nexus-ruby-support#62).
const AUTHORIZATION = `Basic ${Buffer.from('deployer:s3cret').toString('base64')}`;
const PREFIX = /^\/repository\/gems-(hosted|group)/;

/** gem install fetches one command's .gem files in either order (dependency first or not): each run of them sorted. */
function gemsInAnyOrder(lines: string[]): string[] {
  const out: string[] = [];
  let batch: string[] = [];
  for (const line of [...lines, '']) {
    if (line.startsWith('GET /gems/')) {
      batch.push(line);
      continue;
    }
    out.push(...batch.sort());
    batch = [];
    if (line) out.push(line);
  }
  return out;
}

const gemSite = (repos: GemRepos): ConfigInput['sites'][number] => ({
  name: 'gems',
  hosts: ['127.0.0.1'],
  preset: 'rubygems',
  upstreams: { read: repos.groupUrl, write: repos.hostedUrl },
});

let work: string;
let depGem: string;
let hello1: string;
let hello2: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'rr-gem-client-'));
  // Built once for every runtime: rr-dep sits in the group's proxy member, rr-hello (two versions) is pushed.
  const env = gemEnv(path.join(work, 'build-home'));
  const needsDep = { 'rr-dep': '>= 2.0' };
  const hello = (greeting: string) => `require "rr_dep"\nmodule RrHello\n  def self.hi = "${greeting} #{RrDep.answer}"\nend\n`;
  [depGem, hello1, hello2] = await Promise.all([
    buildGem(work, env, { name: 'rr-dep', version: '2.0.0', body: 'module RrDep\n  def self.answer = 42\nend\n' }),
    buildGem(work, env, { name: 'rr-hello', version: '1.0.0', dependencies: needsDep, body: hello('hi') }),
    buildGem(work, env, { name: 'rr-hello', version: '1.1.0', dependencies: needsDep, body: hello('hello') }),
  ]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(['node', 'bun-node'] as const)('gem and bundle through the router to Nexus-like RubyGems repositories on %s', (runtime) => {
  let repos: GemRepos;
  let router: RouterProcess;
  let env: NodeJS.ProcessEnv;
  let home: string;

  beforeAll(async () => {
    repos = await startGemRepos({ proxyGems: [depGem], authorization: AUTHORIZATION });
    // A second site whose hosted repository is down: the router's own error, as gem prints it.
    const down = `http://127.0.0.1:${await freePort()}/repository/gems-hosted/`;
    const sites = [gemSite(repos), { ...gemSite(repos), name: 'gems-down', hosts: ['localhost'], upstreams: { read: repos.groupUrl, write: down } }];
    router = await startRouter(runtime, { sites }, { quiet: true });
    home = path.join(work, `home-${runtime}`);
    await mkdir(path.join(home, '.gem'), { recursive: true });
    await writeFile(path.join(home, '.gem/credentials'), `---\n:rubygems_api_key: ${AUTHORIZATION}\n`);
    await chmod(path.join(home, '.gem/credentials'), 0o600);
    // BUNDLE_PATH apart from GEM_HOME: bundle fetches every gem itself; one job: its requests in a fixed order.
    env = gemEnv(home, { BUNDLE_PATH: path.join(home, 'bundle'), BUNDLE_JOBS: '1' });
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it('pushes (//api/v1/gems too), installs through the group with gem and bundle, shows errors as text, yanks', async () => {
    const gem = (...args: string[]) => run('gem', [args[0]!, '--norc', ...args.slice(1)], { env, cwd: home });
    const source = ['--clear-sources', '--source', `${router.url}/`];

    // --host with a trailing slash: RubyGems 3.3 sends POST //api/v1/gems.
    const push = await gem('push', hello1, '--host', `${router.url}/`);
    expect(push.code, push.stderr + push.stdout).toBe(0);
    expect(push.stdout).toContain('Successfully registered gem: rr-hello (1.0.0)');
    expect(existsSync(path.join(repos.hostedGems, 'rr-hello-1.0.0.gem'))).toBe(true);
    const push2 = await gem('push', hello2, '--host', router.url);
    expect(push2.code, push2.stderr + push2.stdout).toBe(0);
    expect(push2.stdout).toContain('Successfully registered gem: rr-hello (1.1.0)');
    // Hosted's own error passes as it is, and gem prints it.
    const again = await gem('push', hello1, '--host', router.url);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('Repository does not allow updating assets: gems-hosted');

    const install = await gem('install', 'rr-hello', '-v', '1.0.0', '--no-document', ...source);
    expect(install.code, install.stderr + install.stdout).toBe(0);
    expect(install.stdout).toContain('Successfully installed rr-dep-2.0.0\nSuccessfully installed rr-hello-1.0.0\n2 gems installed');
    const loaded = await run('ruby', ['-e', 'require "rr_hello"; puts RrHello.hi'], { env, cwd: home });
    expect(loaded.stdout).toBe('hi 42\n');

    const project = path.join(home, 'project');
    await mkdir(project, { recursive: true });
    await writeFile(path.join(project, 'Gemfile'), `source "${router.url}/"\ngem "rr-hello", "1.1.0"\n`);
    const bundle = await run('bundle', ['install'], { env, cwd: project });
    expect(bundle.code, bundle.stderr + bundle.stdout).toBe(0);
    expect(bundle.stdout).toContain('Installing rr-dep 2.0.0');
    expect(bundle.stdout).toContain('Installing rr-hello 1.1.0');
    expect(bundle.stdout).toContain('Bundle complete!');
    expect(existsSync(path.join(home, 'bundle/ruby/3.1.0/gems/rr-hello-1.1.0/lib/rr_hello.rb'))).toBe(true);

    // The router's own error on a RubyGems site is one line of text, which gem prints as it is.
    const down = await gem('push', hello2, '--host', router.url.replace('127.0.0.1', 'localhost'));
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^write upstream of site gems-down: 127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)$/m);

    const yank = await gem('yank', 'rr-hello', '-v', '1.0.0', '--host', `${router.url}/`);
    expect(yank.code, yank.stderr + yank.stdout).toBe(0);
    expect(yank.stdout).toContain('Successfully deleted gem: rr-hello (1.0.0)');
    expect(existsSync(path.join(repos.hostedGems, 'rr-hello-1.0.0.gem'))).toBe(false);
    // gem keeps the specs it fetched and asks again with If-Modified-Since: an index rewritten within the same
    // second as the one it cached (push, then yank) answers 304 and the cache would list the yanked version.
    await rm(path.join(home, 'spec-cache'), { recursive: true, force: true });
    const list = await gem('list', '--remote', '--all', 'rr-', ...source);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toBe('rr-dep (2.0.0)\nrr-hello (1.1.0)\n');

    // Every line nginx logged is the fixture's, on the server of its role, the repository prefix kept.
    const logged = await logLinesAfter(() => repos.requests(), 0, RUBYGEMS_REQUESTS.length);
    expect(gemsInAnyOrder(logged.map((r) => `${r.method} ${r.uri.replace(PREFIX, '')} → ${r.server}`))).toEqual(
      gemsInAnyOrder(RUBYGEMS_REQUESTS.map((r) => `${r.method} ${r.path} → ${SERVER_OF[r.expected]}`)),
    );
    expect(logged.filter((r) => !PREFIX.test(r.uri))).toEqual([]);
    // Authorization passes unchanged to hosted; gem sends none for reads.
    expect(new Set(logged.map((r) => `${r.server} ${r.authorization}`))).toEqual(new Set([`hosted ${AUTHORIZATION}`, 'group ']));
  });
});

describe.each(RUNTIMES)('RubyGems request lines replayed through the router on %s', (runtime: Runtime) => {
  let repos: GemRepos;
  let router: RouterProcess;

  beforeAll(async () => {
    repos = await startGemRepos({ proxyGems: [depGem], authorization: AUTHORIZATION });
    router = await startRouter(runtime, { sites: [gemSite(repos)] }, { quiet: true });
  });

  afterAll(async () => {
    await router?.stop();
    await repos?.destroy();
  });

  it(`each of the ${RUBYGEMS_REQUESTS.length} lines gem and bundle send reaches the server of its role, as sent`, async () => {
    const reached: string[] = [];
    for (const request of RUBYGEMS_REQUESTS) {
      const before = (await repos.requests()).length;
      const body = request.method === 'POST' ? 'not a gem' : request.method === 'DELETE' ? 'gem_name=rr-none&version=0.1.0' : undefined;
      const response = await fetch(`${router.url}${request.path}`, { method: request.method, body, headers: { authorization: AUTHORIZATION } });
      await response.arrayBuffer();
      const seen = await logLinesAfter(() => repos.requests(), before, 1);
      const where = seen.map((r) => `${r.server} ${r.uri.replace(PREFIX, '')} ${r.authorization}`).join(' + ');
      reached.push(`${request.method} ${request.path} → ${where || 'nothing'}`);
    }
    expect(reached).toEqual(RUBYGEMS_REQUESTS.map((r) => `${r.method} ${r.path} → ${SERVER_OF[r.expected]} ${r.path} ${AUTHORIZATION}`));
  });
});

describe('check --probe on a RubyGems site', () => {
  let repos: GemRepos;
  beforeAll(async () => {
    repos = await startGemRepos({ proxyGems: [], authorization: AUTHORIZATION });
  });
  afterAll(async () => {
    await repos?.destroy();
  });

  it("asks each repository's root, which a Nexus RubyGems repository answers 200", async () => {
    let out = '';
    const config = parseConfig({ sites: [gemSite(repos)] } as ConfigInput);
    const ok = await probeUpstreams(config, undiciClient({ connect: 2, idle: 5 }), {
      out: (text) => {
        out += text;
      },
      err: () => {},
    });
    expect(out).toMatch(/probe gems read +GET http:\/\/127\.0\.0\.1:\d+\/repository\/gems-group\/ {2}→ 200 OK \(healthy\)/);
    expect(out).toMatch(/probe gems write +GET http:\/\/127\.0\.0\.1:\d+\/repository\/gems-hosted\/ {2}→ 200 OK \(healthy\)/);
    expect(ok).toBe(true);
  });
});
