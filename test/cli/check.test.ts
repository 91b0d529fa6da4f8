/**
 * `registry-router check` as an operator runs it: the built bundle (`node dist/node.mjs`), and the
 * same entry under Bun (`bun run src/node.ts`) and Deno (`src/deno.ts`). Exit 0 when the config is
 * fine, 2 with every problem named by its field when not, like `nginx -t`.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { BUN_NODE, DENO, DOCKER_SITE, files, NODE, run } from './support.ts';

const good = JSON.stringify({ listen: { host: '127.0.0.1', port: 8080 }, sites: [DOCKER_SITE] });
const bad = JSON.stringify({
  listen: { port: 'eighty' },
  sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'dockr', upsteams: { read: 'http://g:8082' }, upstream: 'nexus:8082', maxBodySize: true }],
  timeout: { idle: 60 },
});
const jsonc = `{
  // the original set-up, commented
  "listen": { "host": "127.0.0.1", "port": 8080 }, /* plain HTTP */
  "sites": [
    {
      "name": "docker", "hosts": ["idocker.io"], "preset": "docker",
      "upstreams": { "read": "http://nexus:8082", "write": "http://nexus:8083", },
    },
  ],
}
`;
const syntax = `{
  "sites": [
    { "name": "docker" "hosts": ["idocker.io"] }
  ]
}
`;
const tls = JSON.stringify({
  listen: [{ port: 8080 }, { port: 8443, cert: 'certs/docker.crt', key: 'certs/docker.key' }],
  sites: [{ ...DOCKER_SITE, health: { checks: false } }],
});
const dir = files({
  'good.json': good,
  'bad.json': bad,
  'commented.json': jsonc,
  'syntax.json': syntax,
  'tls.json': tls,
  'router.yaml': 'sites:\n  - name: docker\n',
});
const at = (name: string) => join(dir, name);

describe('check (node dist/node.mjs)', () => {
  it('a good config: exit 0, one line saying what it serves', async () => {
    const { code, stdout, stderr } = await run(NODE, ['check', '--config', at('good.json')]);
    expect(stderr).toBe('');
    expect(stdout).toBe(`registry-router: ${at('good.json')} is fine for node (1 site: docker; listening on http://127.0.0.1:8080)\n`);
    expect(code).toBe(0);
  });

  it('a bad config: exit 2, every problem with its field path, unknown keys with the nearest known one', async () => {
    const { code, stdout } = await run(NODE, ['check', '--config', at('bad.json')]);
    expect(code).toBe(2);
    expect(stdout).toContain(`${at('bad.json')} is invalid (6 problems):`);
    expect(stdout).toContain('  listen.port: expected a number, got a string\n');
    expect(stdout).toContain(
      '  sites[0].preset: must be one of "docker", "npm", "maven", "pypi", "raw", "yum", "rubygems", "nuget", "generic", ' +
        'got "dockr" (did you mean "docker"?)\n',
    );
    expect(stdout).toContain('  sites[0].upstream: must be an absolute http(s) URL');
    // A union field says what it takes, not "Invalid input".
    expect(stdout).toContain('  sites[0].maxBodySize: must be 0 (no cap), a byte count, or a size with a unit k, m, g or t (1024-based;');
    expect(stdout).toContain('  sites[0].upsteams: unknown key (did you mean "upstreams"?)\n');
    expect(stdout).toContain('  timeout: unknown key (did you mean "timeouts"?)\n');
    expect(stdout).not.toMatch(/Invalid input/);
    expect(stdout).toMatch(/check failed\n$/);
  });

  it('JSON with comments and trailing commas is read', async () => {
    const { code, stdout } = await run(NODE, ['check', '--config', at('commented.json')]);
    expect(stdout).toContain('is fine for node');
    expect(code).toBe(0);
  });

  it('a JSON syntax error: file:line:column, the line, a caret under the column', async () => {
    const { code, stdout } = await run(NODE, ['check', '--config', at('syntax.json')]);
    expect(code).toBe(2);
    expect(stdout).toContain(`${at('syntax.json')}:3:24: a comma was expected before this\n`);
    expect(stdout).toContain('    3 |     { "name": "docker" "hosts": ["idocker.io"] }\n');
    expect(stdout).toContain(`\n${' '.repeat(8)}${' '.repeat(23)}^\n`);
    expect(stdout).not.toMatch(/position \d+/);
  });

  it('YAML is not read, and it says what to do', async () => {
    const { code, stdout } = await run(NODE, ['check', '--config', at('router.yaml')]);
    expect(code).toBe(2);
    expect(stdout).toMatch(/router\.yaml looks like YAML, which the router does not read: write it as JSON .*yq -o=json/);
  });

  it('--runtime worker refuses a TLS listener; on node the missing certificate points at `npm run certs`', async () => {
    const worker = await run(NODE, ['check', '--config', at('tls.json'), '--runtime', 'worker']);
    expect(worker.code).toBe(2);
    expect(worker.stdout).toContain('but worker cannot run it as it is (1 problem)');
    expect(worker.stdout).toContain('  listen[1]: TLS listeners (cert/key) are not supported on worker');
    const node = await run(NODE, ['check', '--config', at('tls.json')]);
    expect(node.code).toBe(2);
    // Both files are missing: both are named, then one hint.
    expect(node.stdout).toContain(`  listen[1]: cannot read the certificate ${at('certs/docker.crt')}: ENOENT`);
    expect(node.stdout).toContain(`  listen[1]: cannot read the key ${at('certs/docker.key')}: ENOENT`);
    expect(node.stdout).toContain(`to create them: \`npm run certs -- --config ${at('tls.json')}\``);
  });

  it('without --config or REGISTRY_ROUTER_CONFIG: exit 2, asking which', async () => {
    const { code, stderr } = await run(NODE, ['check']);
    expect(code).toBe(2);
    expect(stderr).toContain('which config? give --config FILE');
  });

  it('--runtime takes only the runtimes there are', async () => {
    const { code, stderr } = await run(NODE, ['check', '--config', at('good.json'), '--runtime', 'jvm']);
    expect(code).toBe(2);
    expect(stderr).toContain("error: option '--runtime <runtime>' argument 'jvm' is invalid. Allowed choices are node, bun, bun-node, deno, worker.");
  });

  it('a reader that goes away early (| true): the rest of the output is dropped quietly, the exit code stays', async () => {
    // The first line goes out before the probe; the reader is gone by then, so the later lines meet EPIPE.
    const dead = files({
      'router.json': JSON.stringify({ sites: [{ ...DOCKER_SITE, upstream: `http://127.0.0.1:${await freePort()}`, upstreams: undefined }] }),
    });
    const { code, stderr } = await run(
      ['bash'],
      ['-c', `set -o pipefail; "${NODE[0]}" "${NODE[1]}" check --config "${join(dead, 'router.json')}" --probe | true`],
    );
    expect(stderr).toBe('');
    expect(code).toBe(2);
  });
});

describe('check --probe', () => {
  let live: Server;
  let livePort: number;
  let deadPort: number;
  beforeAll(async () => {
    live = createServer((req, res) => {
      // A registry that wants login answers its /v2/ ping with 401: healthy on a docker site.
      res.writeHead(req.url === '/repository/docker-group/v2/' ? 401 : 404, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((done) => live.listen(0, '127.0.0.1', done));
    livePort = (live.address() as AddressInfo).port;
    deadPort = await freePort();
  });
  afterAll(() => new Promise((done) => live.close(done)));

  const probeConfig = () =>
    files({
      'router.json': JSON.stringify({
        sites: [
          {
            ...DOCKER_SITE,
            upstreams: { read: `http://127.0.0.1:${livePort}/repository/docker-group/`, write: `http://127.0.0.1:${deadPort}/repository/docker-hosted/` },
          },
          { name: 'web', hosts: ['repo.example.com'], upstream: `http://127.0.0.1:${livePort}/nothing-here/` },
        ],
      }),
    });

  it('says how each upstream answered: healthy, refused, not healthy; exit 2 when one is not', async () => {
    const { code, stdout } = await run(NODE, ['check', '--config', join(probeConfig(), 'router.json'), '--probe']);
    expect(stdout).toContain('is fine for node');
    expect(stdout).toMatch(
      new RegExp(`probe docker read\\s+GET http://127\\.0\\.0\\.1:${livePort}/repository/docker-group/v2/  → 401 Unauthorized \\(healthy\\) in \\d+ ms\\n`),
    );
    expect(stdout).toMatch(
      new RegExp(
        `probe docker write\\s+GET http://127\\.0\\.0\\.1:${deadPort}/repository/docker-hosted/v2/  → no answer: ` +
          `127\\.0\\.0\\.1:${deadPort}: connection refused \\(ECONNREFUSED\\)\\n`,
      ),
    );
    // One server for both roles: probed once.
    expect(stdout).toMatch(
      new RegExp(
        `probe web read\\+write\\s+GET http://127\\.0\\.0\\.1:${livePort}/nothing-here/  → 404 Not Found: ` +
          `not healthy \\(expected 200–399\\); is the URL the repository's root`,
      ),
    );
    expect(stdout).toMatch(/some upstreams did not answer as expected\n$/);
    expect(code).toBe(2);
  });

  it("on Bun (src/node.ts), through Bun's fetch", async () => {
    const { code, stdout } = await run(BUN_NODE, ['check', '--config', join(probeConfig(), 'router.json'), '--probe']);
    expect(stdout).toContain('is fine for bun-node');
    expect(stdout).toMatch(/probe docker read .* → 401 Unauthorized \(healthy\)/);
    expect(stdout).toMatch(/probe docker write .* → no answer: 127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
    expect(code).toBe(2);
  });
});

describe('check on Bun and Deno: the same entry', () => {
  it.each([
    ['bun run src/node.ts', BUN_NODE, 'bun-node'],
    ['deno run src/deno.ts', DENO, 'deno'],
  ])('%s', async (_name, command, runtime) => {
    const fine = await run(command, ['check', '--config', at('commented.json')]);
    expect(fine.stdout).toContain(`is fine for ${runtime}`);
    expect(fine.code).toBe(0);
    const broken = await run(command, ['check', '--config', at('bad.json')]);
    expect(broken.stdout).toContain('  sites[0].upsteams: unknown key (did you mean "upstreams"?)\n');
    expect(broken.code).toBe(2);
  });
});

/**
 * Issue 19: what `check` called fine while `serve` failed, could not work, or routed wrongly. Each
 * config here passed `check` with exit 0 before.
 */
describe('check: what serve would refuse, or could not do', () => {
  const check = async (config: unknown, env: Record<string, string> = {}, name = 'router.json') => {
    const dir = files({ [name]: typeof config === 'string' ? config : JSON.stringify(config) });
    return { dir, ...(await run(NODE, ['check', '--config', join(dir, name)], { env })) };
  };
  const MAVEN_SITE = {
    name: 'maven',
    hosts: ['maven.example.com'],
    preset: 'maven',
    upstreams: { read: 'http://nexus:8081/repository/maven-public/', write: 'http://nexus:8081/repository/maven-releases/' },
  };

  it('an upstream URL ending in /v2/ on a docker site: exit 2, every role and pool server, saying where pushes would land', async () => {
    const { code, stdout } = await check({
      sites: [
        { ...DOCKER_SITE, upstreams: { read: { servers: ['http://nexus:8082/'], backup: ['http://nexus-b:8082/v2'] }, write: 'http://127.0.0.1:21083/v2/' } },
      ],
    });
    expect(code).toBe(2);
    expect(stdout).toContain('is invalid (2 problems)');
    expect(stdout).toContain('  sites[0].upstreams.read.backup[0]: "http://nexus-b:8082/v2" ends in /v2/');
    expect(stdout).toContain(
      '  sites[0].upstreams.write: "http://127.0.0.1:21083/v2/" ends in /v2/, but the router appends the client\'s whole path (/v2/<name>/…) to it: ' +
        'a push of team/app would go to …/v2/v2/team/app/… and land in a repository named "v2/team/app", which pulls of team/app never find; ' +
        'drop the /v2/: give the registry\'s root ("http://127.0.0.1:21083/") or Nexus\'s "/repository/<name>/"\n',
    );
  });

  it("a misspelt role: exit 2 with the role meant; Nexus's group/hosted: read and write missing, and which is which", async () => {
    const misspelt = { ...MAVEN_SITE.upstreams, snapshot: 'http://nexus:8081/repository/maven-snapshots/' };
    const snapshot = await check({ sites: [{ ...MAVEN_SITE, upstreams: misspelt }] });
    expect(snapshot.code).toBe(2);
    expect(snapshot.stdout).toContain(
      '  sites[0].upstreams.snapshot: no rule routes to a role named "snapshot", so this upstream would never be used (did you mean "snapshots"?)',
    );
    const nexusWords = await check({ sites: [{ ...DOCKER_SITE, upstreams: { group: 'http://nexus:8082', hosted: 'http://nexus:8083' } }] });
    expect(nexusWords.code).toBe(2);
    expect(nexusWords.stdout).toContain('is invalid (4 problems)');
    expect(nexusWords.stdout).toContain("  sites[0].upstreams.read: missing: the group repository's URL");
    expect(nexusWords.stdout).toContain("  sites[0].upstreams.write: missing: the hosted repository's URL");
    expect(nexusWords.stdout).toContain('(did you mean "read"? the group repository is the "read" role)');
    expect(nexusWords.stdout).toContain('(did you mean "write"? the hosted repository is the "write" role)');
    expect(nexusWords.stdout).not.toContain('must be a URL');
  });

  it("the admin port on a listener's, two sites with one name and host: exit 2, each named", async () => {
    const { code, stdout } = await check({ listen: { port: 8080 }, admin: { port: 8080 }, sites: [DOCKER_SITE, { ...DOCKER_SITE, hosts: ['IDOCKER.IO'] }] });
    expect(code).toBe(2);
    expect(stdout).toContain('is invalid (3 problems)');
    expect(stdout).toContain('  admin.port: admin (127.0.0.1:8080) and listen[0] (0.0.0.0:8080) overlap');
    expect(stdout).toContain('  sites[1].name: "docker" is also the name of sites[0]');
    expect(stdout).toContain('  sites[1].hosts[0]: "IDOCKER.IO" is served by sites[0] ("docker") already (its "idocker.io")');
  });

  it('a static folder that is not there: exit 2; once it exists, fine', async () => {
    const config = { listen: { host: '127.0.0.1', port: 8080 }, sites: [{ ...DOCKER_SITE, static: [{ prefix: '/download/', dir: 'download' }] }] };
    const missing = await check(config);
    expect(missing.code).toBe(2);
    const dir = join(missing.dir, 'download');
    expect(missing.stdout).toContain(`  sites[0].static[0].dir: ${dir} is not there, so every request under /download/ would answer 404;`);
    const present = files({ 'router.json': JSON.stringify(config) });
    mkdirSync(join(present, 'download'));
    const fine = await run(NODE, ['check', '--config', join(present, 'router.json')]);
    expect(fine.stdout).toContain('is fine for node');
    expect(fine.code).toBe(0);
  });

  it('every missing certificate file is named, not only the first', async () => {
    const certs = [
      { cert: 'certs/a.crt', key: 'certs/a.key' },
      { cert: 'certs/b.crt', key: 'certs/b.key' },
    ];
    const listen = [
      { port: 8443, certs },
      { port: 9443, cert: 'certs/c.crt', key: 'certs/c.key' },
    ];
    const { code, stdout, dir } = await check({ listen, sites: [DOCKER_SITE] });
    expect(code).toBe(2);
    for (const name of ['a', 'b']) {
      expect(stdout).toContain(`  listen[0]: cannot read the certificate ${join(dir, `certs/${name}.crt`)}: ENOENT`);
      expect(stdout).toContain(`  listen[0]: cannot read the key ${join(dir, `certs/${name}.key`)}: ENOENT`);
    }
    expect(stdout).toContain(`  listen[1]: cannot read the certificate ${join(dir, 'certs/c.crt')}: ENOENT`);
    expect(stdout).toContain('(6 problems)');
  });

  it('PORT as serve applies it: the port checked, a PORT on the admin port refused, PORT=abc a clear error', async () => {
    const config = { listen: { host: '127.0.0.1', port: 8080 }, admin: { port: 9090 }, sites: [DOCKER_SITE] };
    const moved = await check(config, { PORT: '8081', HOST: '127.0.0.2' });
    expect(moved.stdout).toContain('listening on http://127.0.0.2:8081)');
    expect(moved.code).toBe(0);
    const onAdmin = await check(config, { PORT: '9090' });
    expect(onAdmin.stdout).toContain('admin.port: with PORT=9090, 127.0.0.1:9090 is listed twice (admin and listen[0])');
    expect(onAdmin.code).toBe(2);
    const abc = await check(config, { PORT: 'abc' });
    expect(abc.stdout).toContain('PORT must be a port number from 0 to 65535 (it replaces the port of listen[0]), got "abc"');
    expect(abc.code).toBe(2);
  });

  it('sizes as people write them pass; a host given as a URL says what to drop; a regex rule path is a warning', async () => {
    const web = { name: 'web', hosts: ['web.example.com'], upstream: 'http://web:80', maxBodySize: '1.5g' };
    const sizes = await check({ listen: { port: 8080 }, sites: [{ ...DOCKER_SITE, maxBodySize: '1GiB' }, web] });
    expect(sizes.stdout).toContain('is fine for node');
    expect(sizes.code).toBe(0);
    const url = await check({ sites: [{ ...DOCKER_SITE, hosts: ['https://idocker.io/'] }] });
    expect(url.stdout).toContain('  sites[0].hosts[0]: must be a host name, "*.domain" or host:port, got "https://idocker.io/": ');
    expect(url.stdout).toContain('got "https://idocker.io/": drop the scheme and path: "idocker.io"\n');
    expect(url.code).toBe(2);
    const regex = await check({ sites: [{ ...DOCKER_SITE, rules: [{ path: '/v2/.*', to: 'write' }] }] });
    expect(regex.stdout).toContain('warning: sites[0].rules[0].path: "/v2/.*" looks like a regular expression, but rule paths are globs');
    expect(regex.stdout).toContain('as a glob: "/v2/**"');
    expect(regex.code).toBe(0);
  });
});
