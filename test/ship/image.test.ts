/**
 * The OCI image (`npm run build:image`, scripts/build-image.ts), as an operator gets it: built from
 * the single executables, pushed with `skopeo copy --all` through the router itself (a Node router
 * from test/support/router.ts in front of docker-registry as hosted and group), pulled back, its
 * layers unpacked into a folder, and run there as its config says (entrypoint, command, environment,
 * user) under chroot in a private mount namespace with /proc, as a container runtime would: its
 * version, `check` on a config mounted at /etc/registry-router, then `serve` answering a skopeo push
 * and pull, a SIGHUP (what `docker kill -s HUP` sends) reloading its certificates, SIGTERM ending it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { buildImage as buildRouterImage, IMAGE_BIN, IMAGE_CONFIG, IMAGE_UID, MEDIA } from '../../scripts/build-image.ts';
import { buildImage } from '../support/image.ts';
import { freePort } from '../support/ports.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, inspectRaw } from '../support/skopeo.ts';
import { ROOT, shipBinaries, shipImage } from './build.ts';
import { runBare, startServing, type Run, type Serving } from './support.ts';

interface ImageConfig {
  created: string;
  architecture: string;
  os: string;
  variant?: string;
  config: {
    User: string;
    Entrypoint: string[];
    Cmd: string[];
    Env: string[];
    WorkingDir: string;
    ExposedPorts: Record<string, object>;
    Labels: Record<string, string>;
  };
  rootfs: { diff_ids: string[] };
}
interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

let image: Awaited<ReturnType<typeof shipImage>>;
let hosted: Registry;
let group: Registry;
let router: RouterProcess;
let work: string;

const blob = async (layout: string, digest: string): Promise<Buffer> => readFile(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)));
const blobJson = async <T>(layout: string, digest: string): Promise<T> => JSON.parse((await blob(layout, digest)).toString()) as T;

beforeAll(async () => {
  image = await shipImage();
  work = await mkdtemp(join(tmpdir(), 'rr-ship-image-'));
  hosted = await startRegistry({ name: 'image-hosted' });
  group = await startRegistry({ name: 'image-group', proxyRemote: hosted.url });
  router = await startRouter(
    'node',
    { sites: [{ name: 'docker', hosts: ['127.0.0.1', 'localhost'], preset: 'docker', upstreams: { read: group.url, write: hosted.url } }] },
    { quiet: true },
  );
}, 300_000);
afterAll(async () => {
  await router?.stop();
  await Promise.allSettled([hosted?.destroy(), group?.destroy()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the OCI image', () => {
  it('is one index of linux/amd64 and linux/arm64; each config runs the executable as a non-root user, declares its ports and the OCI labels', async () => {
    const top = JSON.parse(await readFile(join(image.layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }>;
    };
    expect(top.manifests).toHaveLength(1);
    expect(top.manifests[0]!.mediaType).toBe(MEDIA.index);
    expect(top.manifests[0]!.annotations['org.opencontainers.image.ref.name']).toBe(pkg.version);
    const index = await blobJson<{ manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> }>(
      image.layout,
      top.manifests[0]!.digest,
    );
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    for (const entry of index.manifests) {
      const manifest = await blobJson<Manifest>(image.layout, entry.digest);
      const config = await blobJson<ImageConfig>(image.layout, manifest.config.digest);
      expect(config.architecture).toBe(entry.platform.architecture);
      expect(config.config.Entrypoint).toEqual([IMAGE_BIN]);
      expect(config.config.Cmd).toEqual(['serve']);
      expect(config.config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
      expect(config.config.Env).toContain(`REGISTRY_ROUTER_CONFIG=${IMAGE_CONFIG}`);
      expect(Object.keys(config.config.ExposedPorts)).toEqual(['8080/tcp', '8443/tcp']);
      expect(config.config.Labels).toMatchObject({
        'org.opencontainers.image.title': 'registry-router',
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.created': config.created,
      });
      expect(manifest.layers.map((layer) => layer.mediaType)).toEqual([MEDIA.layer, MEDIA.layer]);
      // The executable of that platform in the top layer, glibc of that platform in the base.
      const listing = execFileSync(
        'tar',
        ['-tvzf', join(image.layout, 'blobs', 'sha256', manifest.layers[1]!.digest.slice(7)), '--numeric-owner', '--full-time'],
        { encoding: 'utf8' },
      );
      expect(listing).toMatch(/^-rwxr-xr-x 0\/0 +\d+ \S+ \S+ usr\/local\/bin\/registry-router$/m);
      const base = execFileSync('tar', ['-tzf', join(image.layout, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7))], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
      expect(base).toContain(entry.platform.architecture === 'amd64' ? 'lib/x86_64-linux-gnu/libc.so.6' : 'lib/aarch64-linux-gnu/libc.so.6');
      expect(base).toContain('etc/ssl/certs/ca-certificates.crt');
      expect(base).toEqual([...base].sort());
    }
  });

  it('is reproducible: built again from the same executables, the same manifest digest (sorted entries, owner 0, one mtime)', async () => {
    const index = JSON.parse((await inspectRaw(`oci:${image.layout}:${image.tag}`)).toString()) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    const amd64 = index.manifests.find((m) => m.platform.architecture === 'amd64')!;
    const config = await blobJson<ImageConfig>(image.layout, (await blobJson<Manifest>(image.layout, amd64.digest)).config.digest);
    const again = await buildRouterImage({
      binDir: (await shipBinaries()).dir,
      out: join(work, 'again'),
      platforms: ['linux/amd64'],
      epoch: Date.parse(config.created) / 1000,
      revision: config.config.Labels['org.opencontainers.image.revision'],
    });
    expect(again.manifests[0]!.digest).toBe(amd64.digest);
  }, 120_000);

  it('goes through the router into the registry with skopeo copy --all, and comes back the same index', async () => {
    await copy(`oci:${image.layout}:${image.tag}`, dockerRef(router.url, 'ops/registry-router', image.tag), { extraArgs: ['--all'], timeoutMs: 240_000 });
    const pushed = `sha256:${createHash('sha256')
      .update(await inspectRaw(`oci:${image.layout}:${image.tag}`))
      .digest('hex')}`;
    expect(await inspectDigest(dockerRef(hosted.url, 'ops/registry-router', image.tag))).toBe(pushed);
    expect(await inspectDigest(dockerRef(router.url, 'ops/registry-router', image.tag))).toBe(pushed);
  }, 300_000);

  it("the Dockerfile (for those who build with Docker, not built here) declares what the script's image config says", async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const index = JSON.parse((await inspectRaw(`oci:${image.layout}:${image.tag}`)).toString()) as { manifests: Array<{ digest: string }> };
    const { config } = await blobJson<ImageConfig>(image.layout, (await blobJson<Manifest>(image.layout, index.manifests[0]!.digest)).config.digest);
    const instruction = (name: string) => new RegExp(`^${name} (.*)$`, 'm').exec(dockerfile)?.[1];
    expect(JSON.parse(instruction('ENTRYPOINT')!)).toEqual(config.Entrypoint);
    expect(JSON.parse(instruction('CMD')!)).toEqual(config.Cmd);
    expect(instruction('USER')).toBe(config.User);
    expect(instruction('ENV')!.split(' ')).toEqual(config.Env);
    expect(instruction('EXPOSE')!.split(' ')).toEqual(Object.keys(config.ExposedPorts));
    expect(instruction('WORKDIR')).toBe(config.WorkingDir);
    expect(dockerfile).toContain(`registry-router:x:${IMAGE_UID}:${IMAGE_UID}:registry-router:/nonexistent:/usr/sbin/nologin`);
  });

  describe('pulled back through the router, unpacked and run under chroot', () => {
    let rootfs: string;
    let config: ImageConfig;
    let configDir: string;

    beforeAll(async () => {
      const pulled = join(work, 'pulled');
      // This machine's platform (linux/amd64) out of the index, as `docker pull` picks it.
      await copy(dockerRef(router.url, 'ops/registry-router', image.tag), `oci:${pulled}:${image.tag}`, { timeoutMs: 240_000 });
      const manifest = JSON.parse((await inspectRaw(`oci:${pulled}:${image.tag}`)).toString()) as Manifest;
      config = await blobJson<ImageConfig>(pulled, manifest.config.digest);
      expect(config.architecture).toBe('amd64');
      rootfs = join(work, 'rootfs');
      await mkdir(rootfs, { mode: 0o755 });
      await chmod(rootfs, 0o755);
      for (const layer of manifest.layers) execFileSync('tar', ['-xzf', join(pulled, 'blobs', 'sha256', layer.digest.slice(7)), '-C', rootfs]);
      // What `docker run -v ./config:/etc/registry-router:ro` gives it: the config folder, certificates beside it.
      configDir = join(work, 'config');
      await mkdir(configDir, { mode: 0o755 });
      await chmod(configDir, 0o755);
    }, 300_000);

    /** The image's command line for `args` (default: its Cmd), in a private mount namespace with /proc and the config folder mounted read-only. */
    const imageCommand = (args?: string[]): string[] => [
      '/usr/bin/unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      'set -e; root=$1; conf=$2; user=$3; shift 3; /usr/bin/mount -t proc proc "$root/proc"; ' +
        '/usr/bin/mount --bind -o ro "$conf" "$root/etc/registry-router"; exec /usr/sbin/chroot --userspec="$user" "$root" "$@"',
      'sh',
      rootfs,
      configDir,
      config.config.User,
      ...config.config.Entrypoint,
      ...(args ?? config.config.Cmd),
    ];
    const imageEnv = (): Record<string, string> =>
      Object.fromEntries(config.config.Env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    const runImage = (args: string[]): Promise<Run> => runBare(imageCommand(args), { env: imageEnv() });

    it('prints its version', async () => {
      expect(await runImage(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    });

    it('checks the config mounted at /etc/registry-router (REGISTRY_ROUTER_CONFIG from the image), as its non-root user', async () => {
      await writeFile(
        join(configDir, 'router.json'),
        JSON.stringify({
          listen: { host: '127.0.0.1', port: 18080 },
          sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: group.url, write: hosted.url } }],
        }),
      );
      const check = await runImage(['check', '--probe']);
      expect(check.code, check.stderr).toBe(0);
      expect(`${check.stdout}${check.stderr}`).toContain(`${IMAGE_CONFIG} is fine for bun-node (1 site: docker; listening on http://127.0.0.1:18080)`);
      expect(`${check.stdout}${check.stderr}`).toMatch(/probe docker read .* 200 .*healthy/);
      const bad = await runImage(['check', '--config', '/etc/registry-router/missing.json']);
      expect(bad.code).toBe(2);
    });

    it('serves: a skopeo push and pull through the chrooted router, SIGHUP reloads its certificates, SIGTERM ends it with 0', async () => {
      const [port, tlsPort] = [await freePort(), await freePort()];
      const certs = await runBare([
        (await shipBinaries()).path('linux-x64'),
        'certs',
        '--config',
        join(configDir, 'router.json'),
        '--out',
        join(configDir, 'certs'),
      ]);
      expect(certs.code, certs.stderr).toBe(0);
      // certs writes keys 0600 for the user that ran it (root here); the image's user reads it through its group in real set-ups.
      await chmod(join(configDir, 'certs', 'docker.key'), 0o644);
      await writeFile(
        join(configDir, 'router.json'),
        JSON.stringify({
          listen: [
            { host: '127.0.0.1', port },
            { host: '127.0.0.1', port: tlsPort, cert: 'certs/docker.crt', key: 'certs/docker.key' },
          ],
          sites: [{ name: 'docker', hosts: ['127.0.0.1', 'localhost', 'idocker.io'], preset: 'docker', upstreams: { read: group.url, write: hosted.url } }],
        }),
      );
      let serving: Serving | undefined;
      try {
        serving = await startServing(imageCommand(), imageEnv(), { count: 2 });
        expect(serving.stderr()).toContain(`listening on http://127.0.0.1:${port}`);
        // The image's user, not root (chroot --userspec as a runtime applies config.User).
        expect(await readFile(`/proc/${serving.child.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${IMAGE_UID}\\s`, 'm'));
        expect(await readlink(`/proc/${serving.child.pid}/root`)).toBe(rootfs);
        const app = await buildImage(join(work, 'app'), {
          tag: 'v1',
          layers: [{ randomBytes: 2 << 20, seed: 'ship-image' }, { files: { 'app/where': 'chroot\n' } }],
        });
        const url = `http://127.0.0.1:${port}`;
        await copy(app.ref(), dockerRef(url, 'ops/app', 'v1'));
        expect(await inspectDigest(dockerRef(hosted.url, 'ops/app', 'v1'))).toBe(app.manifestDigest);
        await copy(dockerRef(url, 'ops/app', 'v1'), `oci:${join(work, 'app-pulled')}:v1`);
        expect(await inspectDigest(`oci:${join(work, 'app-pulled')}:v1`)).toBe(app.manifestDigest);
        expect(serving.stdout()).toMatch(/"method":"PUT"/);

        process.kill(serving.child.pid!, 'SIGHUP');
        for (let i = 0; i < 100 && !/SIGHUP/.test(serving.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
        expect(serving.stderr()).toMatch(new RegExp(`SIGHUP.*reloaded.*${tlsPort}`));
      } finally {
        expect(await serving?.stop('SIGTERM')).toBe(0);
      }
    });
  });
});
