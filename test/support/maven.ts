/**
 * Maven repositories laid out as Nexus lays them out, served by a real nginx, and the real Maven
 * CLI run hermetically against them (for test/e2e/maven.test.ts).
 *
 * **nginx** (Debian `nginx-light` 1.22.1: `nginx -V` lists `--with-http_dav_module`, compiled in,
 * so PUT works without `nginx-extras` or `libnginx-mod-http-dav-ext`; the dav-ext module would only
 * add PROPFIND/OPTIONS, which Maven's http wagon never sends). One process per `startMavenRepos()`,
 * started by the test with its own prefix, config, pid, logs and temp paths in a temp dir (`-p DIR
 * -c DIR/nginx.conf -e DIR/logs/error.log`, `master_process off`, so it is a single process that
 * `setpriv --pdeathsig KILL` takes down with us; the system nginx is never touched). Three servers
 * on loopback ports:
 * - **releases** (a Nexus maven2 hosted repository, release policy): `dav_methods PUT;
 *   create_full_put_path on;` over `releases/`. 201 on a new file, 204 on an overwrite.
 * - **snapshots** (hosted, snapshot policy): the same over `snapshots/`.
 * - **group**: `GET`/`HEAD` answered from `releases/`, then `snapshots/`, then `remote/` (a folder
 *   standing for a proxy of a remote repository; `try_files` across the three roots), anything else
 *   405, as a Nexus group refuses deploys. Unlike Nexus it does not merge `maven-metadata.xml` of
 *   its members: the first member that has the file answers. Enough for MNG-3441: when hosted has
 *   no artifact-level metadata yet, the group answers the remote's, which lists versions hosted
 *   never had.
 * Every request is logged as one JSON line to `logs/requests.log` (server, method, URI, status,
 * `Expect`, `Content-Length`), in completion order across the three servers.
 *
 * **Maven** (Debian `maven` 3.8.7, http wagon, resolver 1.6; plugins from Debian:
 * `libmaven-deploy-plugin-java` 3.0.0, `libmaven-dependency-plugin-java` 3.5.0, which also needs
 * `junit4`: the plugin's Debian POM asks for `junit:junit:4.x` and the package does not depend on
 * it). Run with no network: a `settings.xml` mirror of `*,!router` to `file:///usr/share/maven-repo`
 * (Debian's plugin repository; it has no checksum files, hence warnings on plugin downloads),
 * `-Dmaven.repo.local` in a temp dir, plugins named by full coordinates (no prefix resolution). The
 * repository under test has the id `router` and checksum policy `fail` for resolution.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { clientLogEntries, nginxMain, nginxTempPaths, startNginx } from './nginx-process.ts';

export { NGINX_BIN } from './nginx-process.ts';
export const MVN_BIN = process.env.MVN_BIN ?? '/usr/bin/mvn';
/** Debian's Maven repository: the plugins `libmaven-*-plugin-java` install. */
export const DEBIAN_MAVEN_REPO = '/usr/share/maven-repo';

export type RepoServer = 'group' | 'releases' | 'snapshots';
/** The router role each nginx server stands behind. */
export const ROLE_OF: Record<RepoServer, 'read' | 'write' | 'snapshots'> = { group: 'read', releases: 'write', snapshots: 'snapshots' };

/** One request as nginx logged it. */
export interface RepoRequest {
  server: RepoServer;
  method: string;
  /** The request target as received (`$request_uri`). */
  uri: string;
  status: number;
  /** The `Expect` header, '' when absent. */
  expect: string;
  /** The `Content-Length` header, '' when absent (no body, or chunked). */
  contentLength: string;
  /** `Transfer-Encoding`, '' when absent. */
  transferEncoding: string;
}

export interface Coordinates {
  groupId: string;
  artifactId: string;
  version: string;
}

export interface MavenRepos {
  /** `http://127.0.0.1:PORT` of each server, no trailing slash. */
  groupUrl: string;
  releasesUrl: string;
  snapshotsUrl: string;
  dir: string;
  releasesDir: string;
  snapshotsDir: string;
  /** The folder the group serves last: a proxy of a remote repository. */
  remoteDir: string;
  /** Every request logged so far, in completion order. */
  requests(): Promise<RepoRequest[]>;
  /** The content of a file under a server's folder (`releases`, `snapshots`, `remote`), or undefined. */
  file(where: 'releases' | 'snapshots' | 'remote', relative: string): Promise<Buffer | undefined>;
  stop(): Promise<void>;
  /** stop() and remove the temp dir. */
  destroy(): Promise<void>;
}

export interface MavenReposOptions {
  /** Released versions the remote (proxied by the group) holds, with their artifact-level metadata. Default: com.example:app:0.9. */
  remote?: Coordinates[];
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts one nginx with the releases, snapshots and group servers on free loopback ports. */
export async function startMavenRepos(opts: MavenReposOptions = {}): Promise<MavenRepos> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-maven-repos-'));
  const releasesDir = path.join(dir, 'releases');
  const snapshotsDir = path.join(dir, 'snapshots');
  const remoteDir = path.join(dir, 'remote');
  const logs = path.join(dir, 'logs');
  for (const sub of [releasesDir, snapshotsDir, remoteDir, logs, path.join(dir, 'temp')]) await mkdir(sub, { recursive: true });
  for (const coords of opts.remote ?? [{ groupId: 'com.example', artifactId: 'app', version: '0.9' }]) await seedRelease(remoteDir, coords);
  const requestLog = path.join(logs, 'requests.log');

  const nginx = await startNginx(dir, ['releases', 'snapshots', 'group'] as const, (ports) => nginxConf(dir, ports), 'Maven repositories');
  const url = (server: RepoServer) => `http://127.0.0.1:${nginx.ports[server]}`;

  const repos: MavenRepos = {
    groupUrl: url('group'),
    releasesUrl: url('releases'),
    snapshotsUrl: url('snapshots'),
    dir,
    releasesDir,
    snapshotsDir,
    remoteDir,
    async requests() {
      return (await clientLogEntries(requestLog)).map((entry) => {
        return {
          server: entry.server as RepoServer,
          method: entry.method!,
          uri: entry.uri!,
          status: Number(entry.status),
          expect: entry.expect ?? '',
          contentLength: entry.contentLength ?? '',
          transferEncoding: entry.transferEncoding ?? '',
        };
      });
    },
    async file(where, relative) {
      try {
        return await readFile(path.join(dir, where, relative));
      } catch {
        return undefined;
      }
    },
    stop: () => nginx.stop(),
    async destroy() {
      await repos.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return repos;
}

function nginxConf(dir: string, ports: Record<RepoServer, number>): string {
  const dav = 'dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r;';
  return `${nginxMain(dir, 'test/support/maven.ts')}
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
${nginxTempPaths(dir)}
  client_max_body_size 0;
  log_format requests escape=json '{"server":"$server_name","method":"$request_method","uri":"$request_uri","status":"$status",'
                                  '"expect":"$http_expect","contentLength":"$http_content_length","transferEncoding":"$http_transfer_encoding",'
                                  '"agent":"$http_user_agent"}';
  access_log ${dir}/logs/requests.log requests;
  server {
    listen 127.0.0.1:${ports.releases};
    server_name releases;
    root ${dir}/releases;
    ${dav}
  }
  server {
    listen 127.0.0.1:${ports.snapshots};
    server_name snapshots;
    root ${dir}/snapshots;
    ${dav}
  }
  server {
    listen 127.0.0.1:${ports.group};
    server_name group;
    root ${dir};
    location / {
      # A Nexus group answers reads only.
      if ($request_method !~ ^(GET|HEAD)$) { return 405; }
      try_files /releases$uri /snapshots$uri /remote$uri =404;
    }
  }
}
`;
}

// ---------------------------------------------------------------------------------------------
// Artifacts

export const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');
export const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

/** `com.example` → `com/example/app` (the artifact folder, no slashes around). */
export function artifactDir({ groupId, artifactId }: Pick<Coordinates, 'groupId' | 'artifactId'>): string {
  return `${groupId.replaceAll('.', '/')}/${artifactId}`;
}

/** A minimal valid jar (a zip, stored entries) holding the given files. */
export function makeJar(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const nameBytes = Buffer.from(name);
    const data = Buffer.from(text);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(10, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const centralDir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDir, end]);
}

export function pomXml({ groupId, artifactId, version }: Coordinates): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>${groupId}</groupId>
  <artifactId>${artifactId}</artifactId>
  <version>${version}</version>
  <description>from the remote</description>
</project>
`;
}

/** A released version in a repository folder: jar, pom, their .sha1/.md5, and the artifact-level metadata listing it. */
export async function seedRelease(root: string, coords: Coordinates): Promise<void> {
  const { artifactId, version } = coords;
  const folder = path.join(root, artifactDir(coords));
  await mkdir(path.join(folder, version), { recursive: true });
  const files: Array<[string, Buffer | string]> = [
    [`${version}/${artifactId}-${version}.jar`, makeJar({ 'remote.txt': `${artifactId} ${version} from the remote\n` })],
    [`${version}/${artifactId}-${version}.pom`, pomXml(coords)],
    ['maven-metadata.xml', artifactMetadata(coords, [version])],
  ];
  for (const [name, data] of files) {
    await writeFile(path.join(folder, name), data);
    await writeFile(path.join(folder, `${name}.sha1`), sha1(data));
    await writeFile(path.join(folder, `${name}.md5`), md5(data));
  }
}

function artifactMetadata({ groupId, artifactId }: Coordinates, versions: string[]): string {
  const last = versions.at(-1)!;
  return `<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>${groupId}</groupId>
  <artifactId>${artifactId}</artifactId>
  <versioning>
    <latest>${last}</latest>
    <release>${last}</release>
    <versions>
${versions.map((v) => `      <version>${v}</version>`).join('\n')}
    </versions>
    <lastUpdated>20200101000000</lastUpdated>
  </versioning>
</metadata>
`;
}

/** `<versions><version>…` of an artifact-level maven-metadata.xml. */
export function listedVersions(xml: string): string[] {
  const block = /<versions>([\s\S]*?)<\/versions>/.exec(xml)?.[1] ?? '';
  return [...block.matchAll(/<version>([^<]+)<\/version>/g)].map((m) => m[1]!);
}

/** `<snapshot><buildNumber>` and `<timestamp>` of a version-level snapshot maven-metadata.xml. */
export function snapshotOf(xml: string): { buildNumber: number; timestamp: string; values: string[] } {
  return {
    buildNumber: Number(/<buildNumber>(\d+)<\/buildNumber>/.exec(xml)?.[1] ?? NaN),
    timestamp: /<timestamp>([^<]+)<\/timestamp>/.exec(xml)?.[1] ?? '',
    values: [...xml.matchAll(/<value>([^<]+)<\/value>/g)].map((m) => m[1]!),
  };
}

// ---------------------------------------------------------------------------------------------
// The Maven CLI

/** The newest version of a Debian-packaged plugin that ships its jar (`2.7` of the deploy plugin is a relocation POM). */
export function debianPluginVersion(artifactId: string): string {
  const folder = path.join(DEBIAN_MAVEN_REPO, 'org/apache/maven/plugins', artifactId);
  const versions = existsSync(folder) ? readdirSync(folder).filter((v) => /^\d/.test(v) && existsSync(path.join(folder, v, `${artifactId}-${v}.jar`))) : [];
  if (!versions.length) throw new Error(`${artifactId} is not in ${DEBIAN_MAVEN_REPO}: install Debian's lib${artifactId.replace(/-plugin$/, '')}-plugin-java`);
  return versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
}

export interface MvnResult {
  code: number | null;
  output: string;
  /** The command line, for reports. */
  command: string;
  ms: number;
}

export interface MavenClient {
  /** Holds settings.xml, the local repository (`repo/`) and artifacts to deploy. */
  dir: string;
  localRepo: string;
  /**
   * `mvn deploy:deploy-file` of a jar (and the POM the plugin generates) to `url` (repository id
   * `router`). Each PUT carries `Expect: 100-continue` unless `expectContinue: false` (a `<server>`
   * httpConfiguration param in settings.xml; without a `100` answer the http wagon waits 3 s before
   * it sends each body).
   */
  deployFile(opts: Coordinates & { url: string; file: string; expectContinue?: boolean }): Promise<MvnResult>;
  /** `mvn dependency:get` of `groupId:artifactId:version` (jar, not transitive) from `url` (repository id `router`, checksum policy fail). */
  get(opts: Coordinates & { url: string }): Promise<MvnResult>;
  /** Forgets what the local repository holds of a group (plugins stay cached), so the next `get` asks the network. */
  forget(groupId: string): Promise<void>;
  destroy(): Promise<void>;
}

export async function mavenClient(): Promise<MavenClient> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-maven-client-'));
  const localRepo = path.join(dir, 'repo');
  await mkdir(localRepo);
  const deployPlugin = `org.apache.maven.plugins:maven-deploy-plugin:${debianPluginVersion('maven-deploy-plugin')}`;
  const dependencyPlugin = `org.apache.maven.plugins:maven-dependency-plugin:${debianPluginVersion('maven-dependency-plugin')}`;
  let settingsCount = 0;

  const writeSettings = async (routerUrl?: string, expectContinue = true): Promise<string> => {
    const file = path.join(dir, `settings-${++settingsCount}.xml`);
    const policy = '<enabled>true</enabled><updatePolicy>always</updatePolicy><checksumPolicy>fail</checksumPolicy>';
    const profile = routerUrl
      ? `<profiles><profile><id>router</id><repositories><repository><id>router</id><url>${routerUrl}/</url>
      <releases>${policy}</releases><snapshots>${policy}</snapshots></repository></repositories></profile></profiles>
  <activeProfiles><activeProfile>router</activeProfile></activeProfiles>`
      : '';
    const server = expectContinue
      ? ''
      : `<servers><server><id>router</id><configuration><httpConfiguration><put><params>
      <property><name>http.protocol.expect-continue</name><value>false</value></property>
    </params></put></httpConfiguration></configuration></server></servers>`;
    await writeFile(
      file,
      `<settings>
  <mirrors>
    <!-- Everything but the repository under test comes from Debian's packaged plugins: no network. -->
    <mirror><id>debian</id><mirrorOf>*,!router</mirrorOf><url>file://${DEBIAN_MAVEN_REPO}</url></mirror>
  </mirrors>
  ${profile}
  ${server}
</settings>
`,
    );
    return file;
  };

  const run = (settings: string, args: string[]): Promise<MvnResult> => {
    const argv = ['-B', '-s', settings, `-Dmaven.repo.local=${localRepo}`, ...args];
    const command = `mvn ${argv.join(' ')}`;
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(MVN_BIN, argv, {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        // HOME: no ~/.m2 of the machine; fast JVM start-up for a short-lived process.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, MAVEN_OPTS: '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto' },
      });
      live.add(child);
      let output = '';
      child.stdout!.on('data', (chunk) => (output += chunk));
      child.stderr!.on('data', (chunk) => (output += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        live.delete(child);
        resolve({ code, output, command, ms: Date.now() - started });
      });
    });
  };

  return {
    dir,
    localRepo,
    async deployFile({ url, file, groupId, artifactId, version, expectContinue }) {
      return run(await writeSettings(undefined, expectContinue), [
        `${deployPlugin}:deploy-file`,
        `-Dfile=${file}`,
        `-DgroupId=${groupId}`,
        `-DartifactId=${artifactId}`,
        `-Dversion=${version}`,
        '-Dpackaging=jar',
        '-DrepositoryId=router',
        `-Durl=${url}/`,
      ]);
    },
    async get({ url, groupId, artifactId, version }) {
      return run(await writeSettings(url), [`${dependencyPlugin}:get`, `-Dartifact=${groupId}:${artifactId}:${version}`, '-Dtransitive=false']);
    },
    async forget(groupId) {
      await rm(path.join(localRepo, ...groupId.split('.')), { recursive: true, force: true });
    },
    async destroy() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The lines of mvn's output worth showing when it failed (no plugin-download checksum noise). */
export function mvnErrors(result: MvnResult): string {
  return result.output
    .split('\n')
    .filter((line) => /ERROR|BUILD|Upload|Download(ing|ed) from router/.test(line))
    .join('\n');
}
