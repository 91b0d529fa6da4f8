/**
 * Nexus RubyGems repositories stood in for by real parts, laid out path-based as Nexus serves them:
 * - **hosted** (`http://127.0.0.1:H/repository/gems-hosted/`): one nginx server. Its reads are files
 *   (`gems/`, `specs.4.8.gz`, `quick/Marshal.4.8/…`) written by Debian's `gem generate_index`; `gem push`
 *   (`POST …/api/v1/gems`) and `gem yank` (`DELETE …/api/v1/gems/yank`) go on to a small server in the
 *   test process, which checks `Authorization`, stores or removes the .gem and runs `gem generate_index`
 *   again before it answers (Nexus builds a hosted repository's index on request: a push is readable at
 *   once). A second push of the same version is answered 400 "Repository does not allow updating
 *   assets", as Nexus does with its default write policy.
 * - **group** (`…/repository/gems-group/`): another nginx server over a folder indexed by `gem
 *   generate_index` from hosted's gems and a "proxy" member's (a merged index, as a Nexus group serves);
 *   reads only, anything else 405.
 * Both answer their root 200 with a small HTML page, as Nexus's "browsing not supported" page does.
 * nginx logs every request (server, method, URI as received, status, Authorization) as one JSON line.
 * gem runs with HOME, GEM_HOME and the spec cache in the suite's own folder, never the machine's.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { clientLogEntries, nginxMain, nginxTempPaths, type RunningNginx, startNginx } from './nginx-process.ts';

export type GemServer = 'hosted' | 'group';

export interface GemRequest {
  server: GemServer;
  method: string;
  /** `$request_uri`: the path as received, prefix included. */
  uri: string;
  status: number;
  authorization: string;
}

export interface GemRepos {
  /** The repository URLs as a Nexus site names them, with their trailing slash. */
  hostedUrl: string;
  groupUrl: string;
  /** Where hosted keeps its .gem files. */
  hostedGems: string;
  /** Requests logged so far (the router's background health checks left out), in completion order. */
  requests(): Promise<GemRequest[]>;
  destroy(): Promise<void>;
}

/** What a process printed, and how it ended. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * An environment for gem and bundle that reads and writes nothing of the machine's: HOME, GEM_HOME,
 * GEM_PATH, the spec cache and Bundler's folders under `home`, no proxy variables, no XDG folders.
 */
export function gemEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    GEM_HOME: path.join(home, 'gems'),
    GEM_PATH: path.join(home, 'gems'),
    GEM_SPEC_CACHE: path.join(home, 'spec-cache'),
    BUNDLE_USER_HOME: path.join(home, 'bundle-user'),
    BUNDLE_APP_CONFIG: path.join(home, 'bundle-config'),
    BUNDLE_IGNORE_CONFIG: 'true',
    ...extra,
  };
}

/** Runs a command (gem, bundle, ruby) to its end; never throws for a non-zero exit. */
export function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts hosted and group; `proxyGems` are .gem files the proxy member holds, `authorization` the
 * `Authorization` hosted takes for push and yank (anything else: 401).
 */
export async function startGemRepos(options: { proxyGems: string[]; authorization: string }): Promise<GemRepos> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-gem-repos-'));
  const hostedRoot = path.join(dir, 'repository/gems-hosted');
  const groupRoot = path.join(dir, 'repository/gems-group');
  const proxyGems = path.join(dir, 'proxy/gems');
  const home = path.join(dir, 'home');
  for (const sub of [path.join(hostedRoot, 'gems'), path.join(groupRoot, 'gems'), proxyGems, home, path.join(dir, 'logs'), path.join(dir, 'temp/uploads')]) {
    await mkdir(sub, { recursive: true });
  }
  for (const file of options.proxyGems) await copyFile(file, path.join(proxyGems, path.basename(file)));
  const env = gemEnv(home);

  const generate = async (root: string) => {
    const result = await run('gem', ['generate_index', '--norc', '--quiet', '--directory', root], { env });
    if (result.code !== 0) throw new Error(`gem generate_index --directory ${root} failed:\n${result.stderr}${result.stdout}`);
  };
  // The group's index is a merge of its members': hosted's gems, then the proxy's, in one folder.
  const reindex = async () => {
    const groupGems = path.join(groupRoot, 'gems');
    for (const name of await readdir(groupGems)) await unlink(path.join(groupGems, name));
    for (const from of [path.join(hostedRoot, 'gems'), proxyGems]) {
      for (const name of await readdir(from)) if (!existsSync(path.join(groupGems, name))) await copyFile(path.join(from, name), path.join(groupGems, name));
    }
    await Promise.all([generate(hostedRoot), generate(groupRoot)]);
  };
  await reindex();

  // One change at a time, as each rewrites both indexes.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };
  let uploads = 0;

  const api = http.createServer((request, response) => {
    const answer = (status: number, text: string) => {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(text);
    };
    const url = request.url ?? '';
    void (async () => {
      if (request.headers.authorization !== options.authorization) {
        request.resume();
        return answer(401, 'Access denied: wrong or missing credentials\n');
      }
      // As nginx passed it: `//api/v1/gems` when gem's --host ended in a slash (nginx matched it with merged slashes).
      if (request.method === 'POST' && /^\/repository\/gems-hosted\/+api\/v1\/gems$/.test(url)) {
        const upload = path.join(dir, 'temp/uploads', `${++uploads}.gem`);
        await pipeline(request, createWriteStream(upload));
        const script = 'require "rubygems/package"; s = Gem::Package.new(ARGV[0]).spec; puts s.full_name, s.name, s.version';
        const spec = await run('ruby', ['-e', script, upload], { env });
        if (spec.code !== 0) return answer(400, `Invalid gem: ${spec.stderr.split('\n')[0]}\n`);
        const [fullName, name, version] = spec.stdout.trim().split('\n');
        return serially(async () => {
          const target = path.join(hostedRoot, 'gems', `${fullName}.gem`);
          if (existsSync(target)) return answer(400, 'Repository does not allow updating assets: gems-hosted\n');
          await rename(upload, target);
          await reindex();
          answer(200, `Successfully registered gem: ${name} (${version})`);
        });
      }
      if (request.method === 'DELETE' && /^\/repository\/gems-hosted\/+api\/v1\/gems\/yank$/.test(url)) {
        let body = '';
        for await (const chunk of request) body += chunk;
        const form = new URLSearchParams(body);
        const name = form.get('gem_name') ?? '';
        const version = form.get('version') ?? '';
        const platform = form.get('platform');
        return serially(async () => {
          const file = path.join(hostedRoot, 'gems', `${name}-${version}${platform && platform !== 'ruby' ? `-${platform}` : ''}.gem`);
          if (!/^[\w.-]+$/.test(`${name}${version}`) || !existsSync(file)) return answer(404, `No such gem version: ${name} (${version})\n`);
          await unlink(file);
          await reindex();
          answer(200, `Successfully deleted gem: ${name} (${version})`);
        });
      }
      request.resume();
      answer(404, 'Not Found\n');
    })().catch((error: Error) => {
      if (!response.headersSent) answer(500, `${error.message}\n`);
    });
  });
  await new Promise<void>((done) => api.listen(0, '127.0.0.1', done));
  const apiPort = (api.address() as net.AddressInfo).port;

  let nginx: RunningNginx<GemServer>;
  try {
    nginx = await startNginx(dir, ['hosted', 'group'] as const, (ports) => nginxConf(dir, ports, apiPort), 'RubyGems repositories');
  } catch (error) {
    api.close();
    throw error;
  }
  const { ports } = nginx;
  const log = path.join(dir, 'logs/requests.log');
  return {
    hostedUrl: `http://127.0.0.1:${ports.hosted}/repository/gems-hosted/`,
    groupUrl: `http://127.0.0.1:${ports.group}/repository/gems-group/`,
    hostedGems: path.join(hostedRoot, 'gems'),
    async requests() {
      return (await clientLogEntries(log)).map((entry) => ({
        server: entry.server as GemServer,
        method: entry.method!,
        uri: entry.uri!,
        status: Number(entry.status),
        authorization: entry.authorization!,
      }));
    },
    async destroy() {
      await nginx.stop();
      await new Promise((done) => api.close(done));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function nginxConf(dir: string, ports: Record<GemServer, number>, apiPort: number): string {
  const browse = (repo: string) =>
    `location = /repository/${repo}/ { default_type text/html; return 200 "<html><body>${repo}: browsing this repository is not supported</body></html>\\n"; }`;
  return `${nginxMain(dir, 'test/support/rubygems.ts')}
http {
  default_type application/octet-stream;
${nginxTempPaths(dir)}
  client_max_body_size 0;
  log_format requests escape=json
    '{"server":"$server_name","method":"$request_method","uri":"$request_uri","status":"$status",'
    '"agent":"$http_user_agent","authorization":"$http_authorization"}';
  access_log ${dir}/logs/requests.log requests;
  server {
    listen 127.0.0.1:${ports.hosted};
    server_name hosted;
    root ${dir};
    ${browse('gems-hosted')}
    # Matched with merged slashes (//api/v1/gems too); proxy_pass without a URI passes the request's own.
    location /repository/gems-hosted/api/v1/ { proxy_pass http://127.0.0.1:${apiPort}; }
    location /repository/gems-hosted/ {
      if ($request_method !~ ^(GET|HEAD)$) { return 405; }
    }
  }
  server {
    listen 127.0.0.1:${ports.group};
    server_name group;
    root ${dir};
    ${browse('gems-group')}
    location /repository/gems-group/ {
      # A Nexus group answers reads only.
      if ($request_method !~ ^(GET|HEAD)$) { return 405; }
    }
  }
}
`;
}

/** Writes a gemspec and `lib/<file>.rb` under `dir` and builds the gem there; returns the .gem's path. */
export async function buildGem(
  dir: string,
  env: NodeJS.ProcessEnv,
  gem: { name: string; version: string; dependencies?: Record<string, string>; body: string },
): Promise<string> {
  const source = path.join(dir, `${gem.name}-${gem.version}`);
  const lib = gem.name.replaceAll('-', '_');
  await mkdir(path.join(source, 'lib'), { recursive: true });
  await writeFile(path.join(source, 'lib', `${lib}.rb`), gem.body);
  const deps = Object.entries(gem.dependencies ?? {}).map(
    ([name, requirement]) => `  s.add_runtime_dependency ${JSON.stringify(name)}, ${JSON.stringify(requirement)}\n`,
  );
  await writeFile(
    path.join(source, `${gem.name}.gemspec`),
    `Gem::Specification.new do |s|\n  s.name = ${JSON.stringify(gem.name)}\n  s.version = ${JSON.stringify(gem.version)}\n` +
      `  s.summary = "registry-router test gem"\n  s.authors = ["registry-router"]\n  s.license = "MIT"\n` +
      `  s.homepage = "https://example.com/${gem.name}"\n  s.files = ["lib/${lib}.rb"]\n${deps.join('')}end\n`,
  );
  const built = await run('gem', ['build', '--norc', `${gem.name}.gemspec`], { env, cwd: source });
  if (built.code !== 0) throw new Error(`gem build ${gem.name} failed:\n${built.stderr}${built.stdout}`);
  return path.join(source, `${gem.name}-${gem.version}.gem`);
}
