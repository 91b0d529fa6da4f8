/**
 * `registry-router check` as an operator runs it: the built bundle (`node dist/node.mjs`), and the
 * same entry under Bun (`bun run src/node.ts`) and Deno (`src/deno.ts`). Exit 0 when the config is
 * fine, 2 with every problem named by its field when not, like `nginx -t`.
 */
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
const dir = files({ 'good.json': good, 'bad.json': bad, 'commented.json': jsonc, 'syntax.json': syntax, 'tls.json': tls, 'router.yaml': 'sites:\n  - name: docker\n' });
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
    expect(stdout).toContain('  sites[0].preset: must be one of "docker", "npm", "maven", "pypi", "generic", got "dockr" (did you mean "docker"?)\n');
    expect(stdout).toContain('  sites[0].upstream: must be an absolute http(s) URL');
    // A union field says what it takes, not "Invalid input".
    expect(stdout).toContain('  sites[0].maxBodySize: must be 0 (no cap), a byte count or a size like "512m"\n');
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
    expect(node.stdout).toContain(`listen[1]: cannot use TLS certificate ${at('certs/docker.crt')} with key ${at('certs/docker.key')}: ENOENT`);
    expect(node.stdout).toContain(`to create them: \`npm run certs -- --config ${at('tls.json')}\``);
  });

  it('an upstream URL ending in /v2/ is a warning (valid, but every request would answer 404)', async () => {
    const config = files({ 'v2.json': JSON.stringify({ sites: [{ ...DOCKER_SITE, upstreams: { read: 'http://nexus:8082/v2/', write: 'http://nexus:8083' } }] }) });
    const { code, stdout } = await run(NODE, ['check', '--config', join(config, 'v2.json')]);
    expect(stdout).toContain('warning: sites[0].upstreams.read: http://nexus:8082/v2/ ends in /v2/');
    expect(stdout).toContain('give the repository root instead: http://nexus:8082/');
    expect(code).toBe(0);
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
    const dead = files({ 'router.json': JSON.stringify({ sites: [{ ...DOCKER_SITE, upstream: `http://127.0.0.1:${await freePort()}`, upstreams: undefined }] }) });
    const { code, stderr } = await run(['bash'], ['-c', `set -o pipefail; "${NODE[0]}" "${NODE[1]}" check --config "${join(dead, 'router.json')}" --probe | true`]);
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
    expect(stdout).toMatch(new RegExp(`probe docker read\\s+GET http://127\\.0\\.0\\.1:${livePort}/repository/docker-group/v2/  → 401 Unauthorized \\(healthy\\) in \\d+ ms\\n`));
    expect(stdout).toMatch(
      new RegExp(`probe docker write\\s+GET http://127\\.0\\.0\\.1:${deadPort}/repository/docker-hosted/v2/  → no answer: 127\\.0\\.0\\.1:${deadPort}: connection refused \\(ECONNREFUSED\\)\\n`),
    );
    // One server for both roles: probed once.
    expect(stdout).toMatch(new RegExp(`probe web read\\+write\\s+GET http://127\\.0\\.0\\.1:${livePort}/nothing-here/  → 404 Not Found: not healthy \\(expected 200–399\\); is the URL the repository's root`));
    expect(stdout).toMatch(/some upstreams did not answer as expected\n$/);
    expect(code).toBe(2);
  });

  it('on Bun (src/node.ts), through Bun\'s fetch', async () => {
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
