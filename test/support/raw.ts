/**
 * Nexus raw repositories stood in for by one real nginx per suite (Debian `nginx-light`, whose
 * `--with-http_dav_module` takes PUT and DELETE), started as test/support/maven.ts starts its own:
 * `-p DIR -c DIR/nginx.conf`, `master_process off`, `setpriv --pdeathsig KILL`, free loopback ports,
 * never the system nginx. Laid out path-based as Nexus serves them, two servers:
 * - **hosted** (`http://127.0.0.1:P/repository/raw-hosted/`): `dav_methods PUT DELETE;
 *   create_full_put_path on;` over `DIR/repository/raw-hosted/`; 201 on a new file, 204 on an
 *   overwrite or a delete; any other method 405, as Nexus's raw hosted handler answers
 *   (`methodNotAllowed(method, GET, HEAD, PUT, DELETE)`).
 * - **group** (`…/repository/raw-group/`): `GET`/`HEAD` from hosted's folder, then `DIR/proxy/` (a
 *   folder standing for a raw proxy member); anything else 405, as a Nexus group takes no writes.
 * Both answer their root as Nexus does without an index.html: 404 "You can’t browse this way".
 * Every request is logged as one JSON line (server, method, URI, status, agent) to `logs/requests.log`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clientLogEntries, nginxMain, nginxTempPaths, startNginx } from './nginx-process.ts';

export type RawServer = 'hosted' | 'group';

export interface RawRequest {
  server: RawServer;
  method: string;
  /** `$request_uri`: the path as received, prefix included. */
  uri: string;
  status: number;
}

export interface RawRepos {
  /** The repository URLs as a Nexus site names them, with their trailing slash. */
  hostedUrl: string;
  groupUrl: string;
  /** The folders behind hosted and the "proxy" member. */
  hostedDir: string;
  proxyDir: string;
  /** Requests logged so far (the router's background health checks left out), in completion order. */
  requests(): Promise<RawRequest[]>;
  destroy(): Promise<void>;
}

/** Starts the hosted and group servers; `proxy` files (relative path → content) are what the proxy member holds. */
export async function startRawRepos(proxy: Record<string, string> = {}): Promise<RawRepos> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rr-raw-repos-'));
  const hostedDir = path.join(dir, 'repository/raw-hosted');
  const proxyDir = path.join(dir, 'proxy');
  for (const sub of [hostedDir, proxyDir, path.join(dir, 'logs'), path.join(dir, 'temp')]) await mkdir(sub, { recursive: true });
  for (const [name, content] of Object.entries(proxy)) {
    await mkdir(path.dirname(path.join(proxyDir, name)), { recursive: true });
    await writeFile(path.join(proxyDir, name), content);
  }
  const nginx = await startNginx(dir, ['hosted', 'group'] as const, (ports) => nginxConf(dir, ports), 'raw repositories');
  const { ports } = nginx;
  const log = path.join(dir, 'logs/requests.log');
  return {
    hostedUrl: `http://127.0.0.1:${ports.hosted}/repository/raw-hosted/`,
    groupUrl: `http://127.0.0.1:${ports.group}/repository/raw-group/`,
    hostedDir,
    proxyDir,
    async requests() {
      return (await clientLogEntries(log)).map((entry) => ({
        server: entry.server as RawServer,
        method: entry.method!,
        uri: entry.uri!,
        status: Number(entry.status),
      }));
    },
    async destroy() {
      await nginx.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function nginxConf(dir: string, ports: Record<RawServer, number>): string {
  const root = 'location = /repository/raw-hosted/ { return 404 "You can\'t browse this way\\n"; }';
  return `${nginxMain(dir, 'test/support/raw.ts')}
http {
  default_type application/octet-stream;
${nginxTempPaths(dir)}
  client_max_body_size 0;
  log_format requests escape=json '{"server":"$server_name","method":"$request_method","uri":"$request_uri","status":"$status","agent":"$http_user_agent"}';
  access_log ${dir}/logs/requests.log requests;
  server {
    listen 127.0.0.1:${ports.hosted};
    server_name hosted;
    root ${dir};
    ${root}
    location /repository/raw-hosted/ {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
  server {
    listen 127.0.0.1:${ports.group};
    server_name group;
    root ${dir};
    location = /repository/raw-group/ { return 404 "You can't browse this way\\n"; }
    location ~ ^/repository/raw-group(?<rest>/.*)$ {
      # A Nexus group answers reads only: hosted first, then the proxy member (a named capture: the if's regex resets $1).
      if ($request_method !~ ^(GET|HEAD)$) { return 405; }
      try_files /repository/raw-hosted$rest /proxy$rest =404;
    }
  }
}
`;
}
