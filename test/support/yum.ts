/**
 * Nexus yum repositories stood in for by one real nginx per suite (Debian `nginx-light`, whose WebDAV module
 * takes PUT and DELETE) and Debian's `createrepo-c` (`createrepo_c`, `mergerepo_c`), in two layouts: path-based
 * as Nexus serves them (`http://127.0.0.1:P/repository/yum-hosted/`) and at the server's root
 * (`http://127.0.0.1:P/`). Each layout has two servers:
 * - **hosted**: `dav_methods PUT DELETE; create_full_put_path on;` over `DIR/<layout>/hosted/`; any other method
 *   405. Nexus rebuilds a hosted repository's metadata some time after an upload: here `regenerate()` runs
 *   `createrepo_c` over hosted's repodata folder (`el9/`, a repodata depth of 1), when the test says so.
 * - **group**: reads only (405 otherwise), as a Nexus group: `el9/repodata/` is a real metadata merge of hosted
 *   and a "proxy" member (`mergerepo_c --omit-baseurl`, so hrefs stay relative, as Nexus's group writes them),
 *   made by `regenerate()`; an RPM at its relative href comes from hosted, then from the proxy member's folder.
 * Both answer their root 200 with an HTML page, as Nexus's "browsing is not supported" page. Every request is
 * logged as one JSON line (layout, server, method, URI, status, agent) to `logs/requests.log`.
 *
 * Started as test/support/raw.ts starts its own: `-p DIR -c DIR/nginx.conf`, `master_process off`,
 * `setpriv --pdeathsig KILL`, free loopback ports, never the system nginx.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { clientLogEntries, nginxMain, nginxTempPaths, startNginx } from './nginx-process.ts';

const run = promisify(execFile);

export type YumLayout = 'prefixed' | 'root';
export type YumServer = 'hosted' | 'group';

/** The repodata folder (a Nexus repodata depth of 1): dnf's baseurl is `<repository>/el9/`. */
export const YUM_REPO_DIR = 'el9';

export interface YumRequest {
  layout: YumLayout;
  server: YumServer;
  method: string;
  /** `$request_uri`: the path as received, prefix included. */
  uri: string;
  status: number;
  agent: string;
}

export interface YumLayoutRepos {
  /** The repository URLs as a Nexus site names them, with their trailing slash. */
  hostedUrl: string;
  groupUrl: string;
  hostedDir: string;
  /** Nexus's metadata rebuild, when the test asks for it: createrepo_c over hosted, then the group's merge. */
  regenerate(): Promise<void>;
}

export interface YumRepos {
  layouts: Record<YumLayout, YumLayoutRepos>;
  /** Requests logged so far (the router's background health checks left out), in completion order. */
  requests(): Promise<YumRequest[]>;
  destroy(): Promise<void>;
}

export interface BuiltRpm {
  name: string;
  /** `rr-hello-1.0-1.noarch.rpm`. */
  file: string;
  path: string;
  /** The one file it installs, and what that file holds. */
  installs: string;
  content: string;
}

/**
 * Builds noarch RPMs with `rpmbuild` (Debian's `rpm`) in `dir`, one per name: each installs one text file and
 * requires nothing, so dnf installs it into an empty root. HOME is `dir`: Debian's rpm keeps its database in ~/.rpmdb.
 */
export async function buildRpms(dir: string, names: string[]): Promise<Record<string, BuiltRpm>> {
  const top = path.join(dir, 'rpmbuild');
  await mkdir(path.join(top, 'SPECS'), { recursive: true });
  const built: Record<string, BuiltRpm> = {};
  for (const name of names) {
    const content = `hello from ${name}, built by test/support/yum.ts`;
    const spec = path.join(top, 'SPECS', `${name}.spec`);
    await writeFile(
      spec,
      [
        `Name: ${name}`,
        'Version: 1.0',
        'Release: 1',
        'Summary: a package for the registry-router yum suite',
        'License: MIT',
        'BuildArch: noarch',
        'AutoReqProv: no',
        '%description',
        'One text file.',
        '%install',
        `mkdir -p %{buildroot}/usr/share/${name}`,
        `echo '${content}' > %{buildroot}/usr/share/${name}/hello.txt`,
        '%files',
        `/usr/share/${name}/hello.txt`,
        '',
      ].join('\n'),
    );
    await run('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, spec], { env: { ...process.env, HOME: dir } });
    const file = `${name}-1.0-1.noarch.rpm`;
    built[name] = { name, file, path: path.join(top, 'RPMS/noarch', file), installs: `/usr/share/${name}/hello.txt`, content: `${content}\n` };
  }
  return built;
}

/**
 * Starts one nginx with both layouts' hosted and group servers. `proxy` RPMs are what the "proxy" member holds,
 * at `el9/<folder>/<file>` (its own repodata made here once).
 */
export async function startYumRepos(proxy: Array<{ rpm: BuiltRpm; folder: string }> = []): Promise<YumRepos> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-yum-repos-'));
  const proxyRepo = path.join(dir, 'proxy', YUM_REPO_DIR);
  for (const sub of ['logs', 'temp', proxyRepo]) await mkdir(path.resolve(dir, sub), { recursive: true });
  for (const layout of ['prefixed', 'root'] as const) {
    for (const sub of ['hosted', 'groupmeta']) await mkdir(path.join(dir, layout, sub, YUM_REPO_DIR), { recursive: true });
  }
  for (const { rpm, folder } of proxy) {
    await mkdir(path.join(proxyRepo, folder), { recursive: true });
    await copyFile(rpm.path, path.join(proxyRepo, folder, rpm.file));
  }
  await run('createrepo_c', ['--quiet', '--no-database', proxyRepo]);

  const servers = ['prefixed-hosted', 'prefixed-group', 'root-hosted', 'root-group'] as const;
  const nginx = await startNginx(dir, servers, (ports) => nginxConf(dir, ports), 'yum repositories');
  const { ports } = nginx;
  const log = path.join(dir, 'logs/requests.log');

  const layoutRepos = (layout: YumLayout): YumLayoutRepos => {
    const hosted = path.join(dir, layout, 'hosted', YUM_REPO_DIR);
    const groupMeta = path.join(dir, layout, 'groupmeta', YUM_REPO_DIR);
    const prefix = (name: string) => (layout === 'prefixed' ? `/repository/${name}/` : '/');
    return {
      hostedUrl: `http://127.0.0.1:${ports[`${layout}-hosted`]}${prefix('yum-hosted')}`,
      groupUrl: `http://127.0.0.1:${ports[`${layout}-group`]}${prefix('yum-group')}`,
      hostedDir: path.join(dir, layout, 'hosted'),
      async regenerate() {
        await run('createrepo_c', ['--quiet', '--no-database', hosted]);
        const out = path.join(dir, layout, 'merge-out');
        await rm(out, { recursive: true, force: true });
        await run('mergerepo_c', ['--no-database', '--omit-baseurl', '--repo', hosted, '--repo', proxyRepo, '-o', out]);
        // The group's metadata changes in one step: the new repomd.xml names files that are already there.
        const fresh = path.join(out, 'repodata');
        await mkdir(path.join(groupMeta, 'repodata'), { recursive: true });
        const names = await readdir(fresh);
        for (const name of names.filter((n) => n !== 'repomd.xml')) await copyFile(path.join(fresh, name), path.join(groupMeta, 'repodata', name));
        await copyFile(path.join(fresh, 'repomd.xml'), path.join(groupMeta, 'repodata', 'repomd.xml.new'));
        await rename(path.join(groupMeta, 'repodata', 'repomd.xml.new'), path.join(groupMeta, 'repodata', 'repomd.xml'));
      },
    };
  };
  const layouts = { prefixed: layoutRepos('prefixed'), root: layoutRepos('root') };
  // An empty hosted repository still has metadata (Nexus writes it on creation): the group lists the proxy's RPMs.
  await layouts.prefixed.regenerate();
  await layouts.root.regenerate();
  return {
    layouts,
    async requests() {
      return (await clientLogEntries(log)).map((entry) => {
        const [layout, server] = entry.server!.split('-') as [YumLayout, YumServer];
        return { layout, server, method: entry.method!, uri: entry.uri!, status: Number(entry.status), agent: entry.agent! };
      });
    },
    async destroy() {
      await nginx.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function nginxConf(dir: string, ports: Record<`${YumLayout}-${YumServer}`, number>): string {
  const browse = (repo: string) => `default_type text/html; return 200 "<html><body>${repo}: browsing is not supported</body></html>\\n";`;
  const servers = (['prefixed', 'root'] as const).map((layout) => {
    const prefix = (name: string) => (layout === 'prefixed' ? `/repository/${name}` : '');
    return `
  server {
    listen 127.0.0.1:${ports[`${layout}-hosted`]};
    server_name ${layout}-hosted;
    location = ${prefix('yum-hosted')}/ { ${browse('yum-hosted')} }
    location ${prefix('yum-hosted')}/ {
      alias ${dir}/${layout}/hosted/;
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
  server {
    listen 127.0.0.1:${ports[`${layout}-group`]};
    server_name ${layout}-group;
    root ${dir};
    location = ${prefix('yum-group')}/ { ${browse('yum-group')} }
    location ~ ^${prefix('yum-group')}(?<rest>/.*)$ {
      # A Nexus group answers reads only: its merged metadata, then each RPM from hosted, then from the proxy member.
      if ($request_method !~ ^(GET|HEAD)$) { return 405; }
      try_files /${layout}/groupmeta$rest /${layout}/hosted$rest /proxy$rest =404;
    }
  }`;
  });
  return `${nginxMain(dir, 'test/support/yum.ts')}
http {
  default_type application/octet-stream;
  types { application/x-rpm rpm; text/xml xml; application/gzip gz; }
${nginxTempPaths(dir)}
  client_max_body_size 0;
  log_format requests escape=json '{"server":"$server_name","method":"$request_method","uri":"$request_uri","status":"$status","agent":"$http_user_agent"}';
  access_log ${dir}/logs/requests.log requests;
${servers.join('\n')}
}
`;
}
