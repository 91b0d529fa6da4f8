/**
 * The single executables (`npm run build:bin`, scripts/build-bin.ts): both platforms built with a
 * SHA256SUMS that `sha256sum -c` accepts, linked to glibc alone; the x64 one run with nothing in its
 * environment (`env -i`) takes the command line of `node dist/node.mjs` and prints the same; a stray
 * `.env` or `bunfig.toml` where it runs changes nothing; it serves a skopeo push and pull through
 * real registries on Bun.serve (node:http where a PyPI or Maven site is on plain HTTP, as `bun run
 * src/node.ts` does), stops on SIGTERM, and runs the demo.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { buildBinaries } from '../../scripts/build-bin.ts';
import { elfNeeds } from '../../scripts/build-image.ts';
import { buildImage } from '../support/image.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { copy, dockerRef, inspectDigest } from '../support/skopeo.ts';
import { ROOT, shipBinaries, type ShipBinaries } from './build.ts';
import { runBare, startServing } from './support.ts';

const NODE = [process.execPath, join(ROOT, 'dist', 'node.mjs')];
const GLIBC = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-(x86-64\.so\.2|aarch64\.so\.1))$/;

let bins: ShipBinaries;
let bin: string[];
let work: string;

beforeAll(async () => {
  bins = await shipBinaries();
  bin = [bins.path('linux-x64')];
  work = await mkdtemp(join(tmpdir(), 'rr-ship-bin-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A config file in `work` (JSON as given) and its path. */
async function configFile(name: string, config: unknown): Promise<string> {
  const path = join(work, name);
  await writeFile(path, JSON.stringify(config));
  return path;
}

const dockerSite = (read: string, write: string) => ({ name: 'docker', hosts: ['127.0.0.1', 'localhost'], preset: 'docker', upstreams: { read, write } });

describe('the single executables', () => {
  it('are built for linux-x64 and linux-arm64 with a SHA256SUMS that sha256sum -c accepts, each linked to glibc alone', async () => {
    const checked = await runBare(['sha256sum', '-c', 'SHA256SUMS'], { cwd: bins.dir, env: { PATH: '/usr/bin:/bin' } });
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toBe('registry-router-linux-x64: OK\nregistry-router-linux-arm64: OK\n');
    for (const [target, machine] of [
      ['linux-x64', 'X86-64'],
      ['linux-arm64', 'AArch64'],
    ] as const) {
      const header = await runBare(['readelf', '-h', bins.path(target)], { env: { PATH: '/usr/bin:/bin' } });
      expect(header.stdout).toMatch(new RegExp(`Machine:\\s+.*${machine}`));
      const { needed } = elfNeeds(bins.path(target));
      expect(
        needed.filter((soname) => !GLIBC.test(soname)),
        target,
      ).toEqual([]);
    }
  });

  it('are reproducible: built twice from the same sources, the same bytes', async () => {
    const [first, second] = [await buildBinaries(join(work, 'a'), ['linux-x64']), await buildBinaries(join(work, 'b'), ['linux-x64'])];
    expect(first[0]!.sha256).toBe(second[0]!.sha256);
  });

  it('under env -i: --version, check, route, import-nginx and --help say what node dist/node.mjs says', async () => {
    const config = await configFile('docker.json', {
      listen: { host: '127.0.0.1', port: 18080 },
      sites: [dockerSite('http://127.0.0.1:8082', 'http://127.0.0.1:8083')],
    });
    expect(await runBare([...bin, '--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });

    const check = await runBare([...bin, 'check', '--config', config]);
    expect(check.code, check.stderr).toBe(0);
    expect(`${check.stdout}${check.stderr}`).toContain(`${config} is fine for bun-node (1 site: docker; listening on http://127.0.0.1:18080)`);

    const same = async (args: string[]) => {
      const [binary, node] = await Promise.all([runBare([...bin, ...args]), runBare([...NODE, ...args])]);
      expect(binary, args.join(' ')).toEqual(node);
      return binary;
    };
    expect((await same(['route', '--config', config, 'PUT', 'http://localhost/v2/team/app/manifests/1.0'])).stdout).toContain('role      write');
    expect((await same(['import-nginx', join(ROOT, 'test/import/fixtures/original.conf')])).stdout).toContain('"preset": "docker"');
    await same(['--help']);
    await same(['check', '--help']);
    // The same refusal of a bad config, exit 2.
    const bad = await configFile('bad.json', { sites: [{ name: 'docker', hosts: ['x'], preset: 'docker', upsteams: {} }] });
    expect((await same(['check', '--config', bad])).code).toBe(2);
  });

  it('under env -i: certs makes a CA and a site certificate that openssl verifies (x509 code embedded)', async () => {
    const config = await configFile('certs.json', {
      listen: { host: '127.0.0.1', port: 18080 },
      sites: [dockerSite('http://127.0.0.1:8082', 'http://127.0.0.1:8083')],
    });
    const certs = await runBare([...bin, 'certs', '--config', config, '--out', join(work, 'certs')]);
    expect(certs.code, certs.stderr).toBe(0);
    const verify = await runBare(['openssl', 'verify', '-CAfile', join(work, 'certs', 'ca.crt'), join(work, 'certs', 'docker.crt')], {
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(verify.stdout.trim()).toBe(`${join(work, 'certs', 'docker.crt')}: OK`);
  });

  it('reads no .env or bunfig.toml from the folder it runs in (a compiled Bun program does unless built not to)', async () => {
    const dir = await mkdtemp(join(work, 'cwd-'));
    await writeFile(join(dir, '.env'), 'PORT=1\nHOST=10.9.9.9\nREGISTRY_ROUTER_CONFIG=/nonexistent.json\n');
    await writeFile(join(dir, 'preload.ts'), 'console.error("PRELOADED");\n');
    await writeFile(join(dir, 'bunfig.toml'), 'preload = ["./preload.ts"]\n');
    await writeFile(
      join(dir, 'router.json'),
      JSON.stringify({ listen: { host: '127.0.0.1', port: 18080 }, sites: [dockerSite('http://127.0.0.1:8082', 'http://127.0.0.1:8083')] }),
    );
    const check = await runBare([...bin, 'check', '--config', 'router.json'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(`${check.stdout}${check.stderr}`).toContain('router.json is fine for bun-node (1 site: docker; listening on http://127.0.0.1:18080)');
    expect(check.stderr).not.toContain('PRELOADED');
  });
});

describe('the x64 executable serving', () => {
  let hosted: Registry;
  let group: Registry;

  beforeAll(async () => {
    hosted = await startRegistry({ name: 'ship-hosted' });
    group = await startRegistry({ name: 'ship-group', proxyRemote: hosted.url });
  });
  afterAll(async () => {
    await Promise.allSettled([hosted?.destroy(), group?.destroy()]);
  });

  it('answers a skopeo push and pull through real registries on Bun.serve, logs JSON lines, and stops on SIGTERM', async () => {
    const port = await freePort();
    const config = await configFile('serve.json', { listen: { host: '127.0.0.1', port }, sites: [dockerSite(group.url, hosted.url)] });
    const router = await startServing([...bin, '--config', config], {});
    try {
      expect(router.stderr()).toContain(`registry-router listening on http://127.0.0.1:${port}`);
      // Only a site whose clients show reason phrases moves it to node:http (next test).
      expect(router.stderr()).not.toContain('node:http');
      const image = await buildImage(join(work, 'app'), {
        tag: 'v1',
        layers: [{ randomBytes: 3 << 20, seed: 'ship-bin' }, { files: { 'app/ship.txt': 'binary\n' } }],
      });
      const url = `http://127.0.0.1:${port}`;
      await copy(image.ref(), dockerRef(url, 'ship/app', 'v1'));
      expect(await inspectDigest(dockerRef(hosted.url, 'ship/app', 'v1'))).toBe(image.manifestDigest);
      await copy(dockerRef(url, 'ship/app', 'v1'), `oci:${join(work, 'pulled')}:v1`);
      expect(await inspectDigest(`oci:${join(work, 'pulled')}:v1`)).toBe(image.manifestDigest);
      const log = router
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { method: string; status: number });
      expect(log.some((entry) => entry.method === 'PUT' && entry.status === 201)).toBe(true);
    } finally {
      expect(await router.stop('SIGTERM')).toBe(0);
    }
  });

  it('serves through node:http where a PyPI site is on plain HTTP (its clients show the reason phrase), as bun run src/node.ts does', async () => {
    const port = await freePort();
    const config = await configFile('pypi.json', {
      listen: { host: '127.0.0.1', port },
      sites: [{ name: 'pypi', hosts: ['127.0.0.1'], preset: 'pypi', upstreams: { read: hosted.url, write: hosted.url } }],
    });
    const router = await startServing([...bin, '--config', config], {});
    expect(router.stderr()).toContain(
      "registry-router on Bun: serving through node:http, which keeps the upstream's reason phrase that the clients of site pypi show",
    );
    expect(await router.stop('SIGTERM')).toBe(0);
  });

  it("runs the demo (its registries, its router on Bun's fetch): the banner's skopeo push goes through", async () => {
    const demo = await startServing(
      [...bin, 'demo', '--port', '0', '--admin-port', '0', '--group-port', '0', '--hosted-port', '0'],
      { PATH: '/usr/bin:/bin' },
      { ready: /Ctrl-C stops everything/ },
    );
    try {
      const push = /skopeo copy --dest-tls-verify=false (oci:\S+) (docker:\/\/\S+)/.exec(demo.stdout());
      expect(push, demo.stdout()).not.toBeNull();
      await copy(push![1]!, push![2]!);
      const pulled = join(work, 'demo-pulled');
      await copy(push![2]!, `oci:${pulled}:1.0`);
      expect(await inspectDigest(`oci:${pulled}:1.0`)).toBe(await inspectDigest(push![1]!));
      expect(demo.stdout()).not.toContain('DOWN');
    } finally {
      expect(await demo.stop('SIGTERM')).toBe(0);
    }
  });
});
