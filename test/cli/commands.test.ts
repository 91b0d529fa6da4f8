/**
 * The command line as an operator types it (`node dist/node.mjs …`, `npm start`, and the same
 * entry on Bun): help and version, refusing what it does not know (exit 2 with usage), `route`,
 * `import-nginx`, and what `serve` says at start.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { freePort } from '../support/ports.ts';
import { BUN_NODE, DOCKER_SITE, files, NODE, ROOT, run } from './support.ts';

const config = files({ 'router.json': JSON.stringify({ sites: [DOCKER_SITE] }) });
const routerJson = join(config, 'router.json');

describe('help, version, and what is refused', () => {
  it("--version prints package.json's version", async () => {
    const { code, stdout } = await run(NODE, ['--version']);
    expect(stdout).toBe(`${pkg.version}\n`);
    expect(code).toBe(0);
  });

  it('--help lists every command; each command has its own --help', async () => {
    const top = await run(NODE, ['--help']);
    expect(top.code).toBe(0);
    for (const command of ['serve', 'check', 'route', 'certs', 'import-nginx', 'demo']) expect(top.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    for (const [command, option] of [
      ['serve', '--quiet'],
      ['check', '--probe'],
      ['route', '<method>'],
      ['certs', '--renew'],
      ['import-nginx', '--out <file>'],
      ['demo', '--admin-port <port>'],
    ]) {
      const help = await run(NODE, [command!, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: registry-router ${command}`);
      expect(help.stdout).toContain(option);
    }
  });

  it('an unknown flag: exit 2 with the usage of the command it went to', async () => {
    const { code, stdout, stderr } = await run(NODE, ['--config', routerJson, '--verbose']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain("error: unknown option '--verbose'");
    expect(stderr).toContain('Usage: registry-router serve [options]');
  });

  it('an unknown command: exit 2, the nearest command, the usage', async () => {
    const { code, stderr } = await run(NODE, ['chek', '--config', routerJson]);
    expect(code).toBe(2);
    expect(stderr).toContain("error: unknown command 'chek'");
    expect(stderr).toContain('(Did you mean check?)');
    expect(stderr).toContain('Usage: registry-router [options] [command]');
  });

  it('a missing argument: exit 2', async () => {
    const { code, stderr } = await run(NODE, ['route', '--config', routerJson, 'GET']);
    expect(code).toBe(2);
    expect(stderr).toContain("error: missing required argument 'url'");
  });
});

describe('route', () => {
  const pathBased = files({
    'router.json': JSON.stringify({
      sites: [
        {
          ...DOCKER_SITE,
          upstreams: {
            read: 'http://nexus:8081/repository/docker-group/',
            write: { servers: ['http://nexus-a:8081/repository/docker-hosted/', 'http://nexus-b:8081/repository/docker-hosted/'] },
          },
          rules: [{ methods: ['DELETE'], to: 'deny' }],
        },
      ],
    }),
  });
  const at = join(pathBased, 'router.json');

  it('a docker push request: write, pinned, the push session it opens, the upstream URL with its prefix', async () => {
    const { code, stdout } = await run(NODE, ['route', '--config', at, 'PATCH', 'http://idocker.io/v2/team/app/blobs/uploads/5d1c?_state=x']);
    expect(code).toBe(0);
    const lines = Object.fromEntries(
      stdout
        .trimEnd()
        .split('\n')
        .map((line) => [line.slice(0, 9).trim(), line.slice(10)]),
    );
    expect(lines.site).toBe('docker (sites[0], preset docker, hosts idocker.io)');
    expect(lines.rule).toBe('preset docker, rule #0 (src/formats/docker.ts): {"path":"/v2/**/blobs/uploads/**","to":"write","pin":true,"session":"open"}');
    expect(lines.role).toBe('write');
    expect(lines.pinned).toBe('every request of team/app goes to the primary "team/app" hashes to (rendezvous), never retried on another');
    expect(lines.session).toMatch(
      /^opens \(or renews\) the client's docker push session for team\/app .* manifest HEADs of team\/app asking for one media type go to write/,
    );
    expect(lines.upstream).toMatch(/^http:\/\/nexus-[ab]:8081\/repository\/docker-hosted\/v2\/team\/app\/blobs\/uploads\/5d1c\?_state=x$/);
    expect(lines.pool).toContain('primaries http://nexus-a:8081/repository/docker-hosted/, http://nexus-b:8081/repository/docker-hosted/');
  });

  it('a manifest HEAD: read, and what a push session changes', async () => {
    const { stdout } = await run(NODE, ['route', '--config', at, 'HEAD', 'http://idocker.io/v2/team/app/manifests/1.0']);
    expect(stdout).toContain('role      read\n');
    expect(stdout).toContain('session   inside a docker push session of team/app by the same client');
    expect(stdout).toContain('upstream  http://nexus:8081/repository/docker-group/v2/team/app/manifests/1.0\n');
  });

  it('a site rule by its field path; a host no site serves', async () => {
    const denied = await run(NODE, ['route', '--config', at, 'DELETE', 'http://idocker.io/v2/team/app/manifests/1.0']);
    expect(denied.stdout).toContain('rule      site rule sites[0].rules[0]: {"methods":["DELETE"],"to":"deny"}\n');
    expect(denied.stdout).toContain('answer    405: site docker does not accept DELETE');
    const nobody = await run(NODE, ['route', '--config', at, 'GET', 'http://elsewhere.example/v2/']);
    expect(nobody.stdout).toContain('answer    421: no site serves the host elsewhere.example');
  });

  it("a pull's manifest HEAD (--accept with several types and */*) stays on read, whatever push is in progress", async () => {
    const accept = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, */*';
    const { code, stdout } = await run(NODE, ['route', '--config', at, 'HEAD', 'http://idocker.io/v2/team/app/manifests/1.0', '--accept', accept]);
    expect(code).toBe(0);
    expect(stdout).toContain(`request   HEAD http://idocker.io/v2/team/app/manifests/1.0 (Accept: ${accept})\n`);
    expect(stdout).toContain('"accept":"list","to":"read"}\n');
    expect(stdout).not.toContain('session ');
  });

  it("a Maven deploy is explained in Maven's terms: its deploy session, metadata read where the deploy writes", async () => {
    const maven = files({
      'router.json': JSON.stringify({
        sites: [
          {
            name: 'maven',
            hosts: ['maven.example.com'],
            preset: 'maven',
            upstreams: {
              read: 'http://nexus:8081/repository/maven-public/',
              write: 'http://nexus:8081/repository/maven-releases/',
              snapshots: 'http://nexus:8081/repository/maven-snapshots/',
            },
          },
        ],
      }),
    });
    const put = await run(NODE, ['route', '--config', join(maven, 'router.json'), 'PUT', 'http://maven.example.com/com/example/app/1.0/app-1.0.jar']);
    expect(put.stdout).toMatch(
      /^session {3}opens \(or renews\) the client's Maven deploy session for com\/example\/app .*maven-metadata\.xml go to write, where this deploy writes/m,
    );
    const metadata = await run(NODE, ['route', '--config', join(maven, 'router.json'), 'GET', 'http://maven.example.com/com/example/app/maven-metadata.xml']);
    expect(metadata.stdout).toMatch(
      new RegExp(
        [
          '^session {3}inside a Maven deploy session of com/example/app .*',
          ': a metadata read or write during a deploy goes where the deploy writes: snapshots or write',
        ].join(''),
        'm',
      ),
    );
    expect(metadata.stdout).toContain('session   otherwise (resolvers, other clients, and the first request of a deploy, which has no session yet): read\n');
    for (const { stdout } of [put, metadata]) expect(stdout).not.toMatch(/containerd|manifest|tag/);
  });

  it("a path without a host: on the first site's first host, said so; no such host: refused with the URL to give", async () => {
    const { code, stdout } = await run(NODE, ['route', '--config', at, 'GET', '/v2/']);
    expect(code).toBe(0);
    expect(stdout).toContain("note      no host given: the path on idocker.io (sites[0]'s first host); give http://HOST/v2/ for another site\n");
    expect(stdout).toContain('request   GET http://idocker.io/v2/\n');
    expect(stdout).toContain('upstream  http://nexus:8081/repository/docker-group/v2/\n');
    const wild = files({ 'router.json': JSON.stringify({ sites: [{ ...DOCKER_SITE, hosts: ['*.example.com'] }] }) });
    const refused = await run(NODE, ['route', '--config', join(wild, 'router.json'), 'GET', '/v2/']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      '"/v2/" names no host, and sites[0] has no plain host name to use: give the URL the client uses, e.g. http://registry.example.com/v2/',
    );
  });

  it('the same on Bun (bun run src/node.ts)', async () => {
    const { code, stdout } = await run(BUN_NODE, ['route', '--config', at, 'PUT', 'http://idocker.io/v2/team/app/manifests/1.0']);
    expect(code).toBe(0);
    expect(stdout).toContain('role      write\n');
    expect(stdout).toMatch(/upstream {2}http:\/\/nexus-[ab]:8081\/repository\/docker-hosted\/v2\/team\/app\/manifests\/1\.0\n/);
  });
});

describe('import-nginx', () => {
  const fixture = join(ROOT, 'test/import/fixtures/original.conf');

  it(
    'the original nginx config: JSON on stdout, the deliberate changes on stderr by file:line; ' + 'the output passes check once its certificates exist',
    async () => {
      const imported = await run(NODE, ['import-nginx', fixture]);
      expect(imported.code).toBe(0);
      const json = JSON.parse(imported.stdout) as { listen: Array<{ cert?: string; key?: string }>; sites: Array<{ name: string; static?: unknown }> };
      expect(json.sites.map((site) => site.name)).toEqual(['docker', 'repo']);
      expect(imported.stderr).toContain('import-nginx: done differently on purpose:');
      expect(imported.stderr).toMatch(/original\.conf:\d+/);

      // As written, it names the nginx host's certificate files and download folder; check says so, and how to make certificates.
      const dir = files({ 'router.json': imported.stdout });
      const before = await run(NODE, ['check', '--config', join(dir, 'router.json')]);
      expect(before.code).toBe(2);
      expect(before.stdout).toContain('listen[1]: cannot read the certificate /etc/nginx/ssl/idocker.io.crt');
      expect(before.stdout).toContain('npm run certs');
      expect(before.stdout).toContain('sites[1].static[0].dir: /srv/download is not there');

      // The operator's next step: `certs`, then point the TLS listener at what it wrote.
      const certs = await run(NODE, ['certs', '--config', join(dir, 'router.json'), '--out', join(dir, 'certs')]);
      expect(certs.code).toBe(0);
      json.listen[1] = { ...json.listen[1], cert: 'certs/docker.crt', key: 'certs/docker.key' };
      mkdirSync(join(dir, 'download'));
      json.sites[1]!.static = [{ prefix: '/download', dir: 'download' }];
      writeFileSync(join(dir, 'router.json'), JSON.stringify(json));
      const after = await run(NODE, ['check', '--config', join(dir, 'router.json')]);
      expect(after.stdout).toContain('is fine for node (2 sites: docker, repo; listening on http://0.0.0.0:80, https://0.0.0.0:443)');
      expect(after.code).toBe(0);
    },
  );

  it('--out writes the file; what could not be carried over is listed by file:line', async () => {
    const dir = files({});
    const out = join(dir, 'router.json');
    const { code, stdout, stderr } = await run(NODE, ['import-nginx', join(ROOT, 'test/import/fixtures/path-based.conf'), '--out', out]);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveProperty('sites');
    expect(stderr).toMatch(
      /import-nginx: not carried over \(\d+\):\n {2}\S*path-based\.conf:3: limit_req_zone .*\n {6}the router has no request rate limits\n/,
    );
    expect(stderr).toContain(`import-nginx: wrote ${out}; next: registry-router check --config ${out}`);
  });

  it('a syntax error nginx would refuse: exit 2 with file:line', async () => {
    const dir = files({ 'nginx.conf': 'server {\n  listen 80\n}\n' });
    const { code, stdout, stderr } = await run(NODE, ['import-nginx', join(dir, 'nginx.conf')]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`import-nginx: ${join(dir, 'nginx.conf')}:3: unexpected "}": "listen" (line 2) is missing its ";"`);
  });
});

describe('certs', () => {
  it('| true: no EPIPE stack trace', async () => {
    const dir = files({});
    const { code, stderr } = await run(
      ['bash'],
      ['-c', `set -o pipefail; "${NODE[0]}" "${NODE[1]}" certs --config "${routerJson}" --out "${join(dir, 'certs')}" | true`],
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('serve', () => {
  // An upstream URL ending in /v2/ on a docker site stops it at start: test/cli/serve-start.test.ts.

  it('without a config: the start lines name the sites and their hosts and point at the demo; HOST binds; a 421 names the hosts served', async () => {
    const port = await freePort();
    const router = spawn(NODE[0]!, [NODE[1]!, '--quiet'], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    router.stderr!.on('data', (chunk) => (stderr += chunk));
    try {
      for (let i = 0; i < 200 && !stderr.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
      const lines = stderr.split('\n');
      expect(lines[0]).toBe(
        'registry-router: no --config FILE (or REGISTRY_ROUTER_CONFIG): the built-in default config runs (its sites below); ' +
          'to try the router without Nexus: registry-router demo',
      );
      expect(lines[1]).toBe(
        'registry-router sites: docker (docker) → idocker.io; ' +
          'web (generic) → repo.example.com (requests are routed by their Host; a Host no site lists gets 421)',
      );
      expect(lines[2]).toBe(`registry-router listening on http://127.0.0.1:${port} (built-in default config)`);
      const refused = await fetch(`http://127.0.0.1:${port}/v2/`);
      expect(refused.status).toBe(421);
      expect(await refused.text()).toContain(
        `this router serves no site named 127.0.0.1:${port}; its sites serve: docker (idocker.io); web (repo.example.com)`,
      );
    } finally {
      const exited = new Promise((done) => router.once('exit', done));
      router.kill('SIGTERM');
      await exited;
    }
  });

  it('HOST that is no address: exit 2 naming the variable', async () => {
    const { code, stderr } = await run(NODE, ['--config', routerJson], { env: { HOST: 'my host' } });
    expect(code).toBe(2);
    expect(stderr).toContain('HOST must be an address to listen on (0.0.0.0, 127.0.0.1, ::, or a host name), got "my host"');
  });

  it('a missing certificate file stops it with exit 2 and points at `npm run certs`', async () => {
    const dir = files({
      'router.json': JSON.stringify({ listen: { host: '127.0.0.1', port: 0, cert: 'certs/docker.crt', key: 'certs/docker.key' }, sites: [DOCKER_SITE] }),
    });
    const { code, stderr } = await run(NODE, ['--config', join(dir, 'router.json')]);
    expect(code).toBe(2);
    expect(stderr).toContain(`cannot use TLS certificate ${join(dir, 'certs/docker.crt')}`);
    expect(stderr).toContain('npm run certs -- --config');
  });

  it('`npm start` stopped by its PID leaves no router behind', async () => {
    const port = await freePort();
    const dir = files({ 'router.json': JSON.stringify({ listen: { host: '127.0.0.1', port }, sites: [DOCKER_SITE] }) });
    const npm = spawn('npm', ['start', '--silent', '--', '--config', join(dir, 'router.json'), '--quiet'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    npm.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((done) => npm.once('exit', (code) => done(code)));
    for (let i = 0; i < 200 && !stderr.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain(`listening on http://127.0.0.1:${port}`);
    npm.kill('SIGTERM');
    await exited;
    // The router got the signal too (the script execs it): its port closes.
    let open = true;
    for (let i = 0; i < 100 && open; i++) {
      open = await new Promise<boolean>((done) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.destroy();
          done(true);
        });
        socket.once('error', () => done(false));
      });
      if (open) await new Promise((r) => setTimeout(r, 50));
    }
    expect(open).toBe(false);
  });
});
