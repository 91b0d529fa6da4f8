/**
 * One router process on Node with a plain and a TLS listener, certificates from `npm run certs`,
 * a real docker-registry behind it, and real clients: skopeo over https:// with the CA and over
 * http:// on the other listener, the generated bootstrap script run under ROOT=<tmp> with curl,
 * and a SIGHUP that swaps certificates while a download is in flight (on Node, then on both Bun
 * entries and the Deno adapter); several certificates on one listener picked by SNI (Node, Bun).
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadBlob } from '../support/blob.ts';
import { buildImage } from '../support/image.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { startRouter, type RouterProcess } from '../support/router.ts';
import { copy, dockerRef, inspectDigest, tryCopy } from '../support/skopeo.ts';
import { runCertsCommand } from '../support/certs-command.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MiB = 1024 * 1024;

let work: string;
let certsDir: string;
let hosted: Registry;
let router: RouterProcess;
let httpUrl: string;
let httpsUrl: string;
let tlsPort: number;

function runCerts(...extra: string[]): string {
  return runCertsCommand(join(work, 'router.json'), certsDir, ...extra);
}

/** GET over plain HTTP with a chosen Host. */
function fetchPlain(path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = httpRequest({ host: '127.0.0.1', port: new URL(httpUrl).port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode!, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Every file below `dir` with its bytes' hash and mtime, to prove a second run changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${statSync(path).mtimeMs}`;
    }
  };
  walk(dir);
  return files;
}

const fingerprintOf = (pem: Buffer | string) => new X509Certificate(pem).fingerprint256;

/** The certificate a new TLS connection to the router's TLS listener (the second) is served. */
function freshFingerprint(tlsPort: number, ca: Buffer): Promise<string> {
  return new Promise<string>((done, fail) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: tlsPort, path: '/v2/', ca, servername: 'registry.test', agent: false, headers: { host: `registry.test:${tlsPort}` } },
      (res) => {
        res.resume();
        done((res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/** Waits for `pattern` in what the router wrote to stderr after `from`. */
async function stderrAfter(router: RouterProcess, from: number, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 5000;
  while (!pattern.test(router.stderr().slice(from))) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr: ${router.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return router.stderr().slice(from);
}

/**
 * SIGHUP after `renew` rewrote the listener's files: a new connection gets the new certificate
 * while a download paused halfway on the old connection (old certificate) completes intact.
 */
async function sighupSwap(router: RouterProcess, pair: { cert: string; key: string }, renew: () => void): Promise<void> {
  const tlsPort = router.ports[1]!;
  const ca = readFileSync(join(certsDir, 'ca.crt'));
  const blob = await uploadBlob(hosted.url, 'team/big', 8 * MiB, { seed: 'sighup' });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const oldFingerprint = fingerprintOf(readFileSync(pair.cert));
  expect(await freshFingerprint(tlsPort, ca)).toBe(oldFingerprint);

  let paused = false;
  let resume: () => void = () => {};
  const resumed = new Promise<void>((r) => (resume = r));
  // Start a download and stop reading it halfway.
  const download = new Promise<{ digest: string; fingerprint: string; bytes: number }>((done, fail) => {
    const req = httpsRequest(
      {
        agent,
        host: '127.0.0.1',
        port: tlsPort,
        path: `/v2/team/big/blobs/${blob.digest}`,
        servername: 'registry.test',
        headers: { host: `registry.test:${tlsPort}` },
      },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        const fingerprint = (res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (bytes >= MiB && !paused) {
            paused = true;
            res.pause();
            void resumed.then(() => res.resume());
          }
        });
        res.on('end', () => done({ digest: `sha256:${hash.digest('hex')}`, fingerprint, bytes }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });

  const pausedBy = Date.now() + 5000;
  while (!paused && Date.now() < pausedBy) await new Promise((r) => setTimeout(r, 20));
  expect(paused).toBe(true);
  renew();
  const newFingerprint = fingerprintOf(readFileSync(pair.cert));
  expect(newFingerprint).not.toBe(oldFingerprint);
  const before = router.stderr().length;
  router.child.kill('SIGHUP');
  await stderrAfter(router, before, /SIGHUP, reloaded the certificates of 127\.0\.0\.1:\d+/);

  // A new connection gets the new certificate while the old one is still mid-transfer.
  expect(await freshFingerprint(tlsPort, ca)).toBe(newFingerprint);

  resume();
  expect(await download).toEqual({ digest: blob.digest, fingerprint: oldFingerprint, bytes: 8 * MiB });
  agent.destroy();
  expect(router.child.exitCode).toBeNull();
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rr-tls-'));
  certsDir = join(work, 'certs');
  hosted = await startRegistry({ name: 'tls-hosted' });
  const site = { name: 'docker', hosts: ['127.0.0.1', 'registry.test'], preset: 'docker' as const, upstream: hosted.url };
  writeFileSync(join(work, 'router.json'), JSON.stringify({ sites: [site] }));
  runCerts();
  router = await startRouter(
    'node',
    { sites: [site], caCert: join(certsDir, 'ca.crt') },
    { quiet: true, listen: [{}, { cert: join(certsDir, 'docker.crt'), key: join(certsDir, 'docker.key') }] },
  );
  [httpUrl, httpsUrl] = router.urls as [string, string];
  tlsPort = router.ports[1]!;
});

afterAll(async () => {
  await router?.stop();
  await hosted?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('TLS and plain HTTP in one Node process', () => {
  let installRoot: string;
  let certDir: string;

  it('serves a bootstrap script that installs the CA for docker, containerd and podman, checks /v2/, and changes nothing the second time', async () => {
    const served = await fetchPlain('/download/scripts/docker-init.sh', `registry.test:${new URL(httpUrl).port}`);
    expect(served.status).toBe(200);
    const scriptPath = join(work, 'docker-init.sh');
    writeFileSync(scriptPath, served.body);
    const lint = spawnSync('shellcheck', ['--shell=sh', scriptPath], { encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);

    installRoot = join(work, 'root');
    mkdirSync(join(installRoot, 'etc'), { recursive: true });
    writeFileSync(join(installRoot, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    // registry.test does not resolve here: REGISTRY_ADDR makes the check use curl --resolve.
    const env = { PATH: process.env.PATH!, ROOT: installRoot, REGISTRY_ADDR: '127.0.0.1' };
    const first = spawnSync('sh', [scriptPath, '--hosts', '127.0.0.1'], { env, encoding: 'utf8' });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const registry = `registry.test:${tlsPort}`;
    const ca = readFileSync(join(certsDir, 'ca.crt'), 'utf8');
    for (const path of [`etc/docker/certs.d/${registry}/ca.crt`, `etc/containerd/certs.d/${registry}/ca.crt`, `etc/containers/certs.d/${registry}/ca.crt`]) {
      expect(readFileSync(join(installRoot, path), 'utf8').trim()).toBe(ca.trim());
    }
    expect(readFileSync(join(installRoot, `etc/containerd/certs.d/${registry}/hosts.toml`), 'utf8')).toContain(
      `[host."https://${registry}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "/etc/containerd/certs.d/${registry}/ca.crt"`,
    );
    expect(readFileSync(join(installRoot, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n127.0.0.1 registry.test # registry-router: registry.test\n');
    expect(first.stdout).toContain(`ok         https://${registry}/v2/ answers 200 over TLS with the installed CA`);
    expect(first.stdout).toContain(`  docker login ${registry}\n`);

    const before = snapshot(installRoot);
    const second = spawnSync('sh', [scriptPath, '--hosts', '127.0.0.1'], { env, encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('nothing to change');
    expect(second.stdout).not.toMatch(/^(installed|updated|backup) /m);
    expect(snapshot(installRoot)).toEqual(before);

    // A new IP replaces our line (with a backup) and keeps the rest.
    const moved = spawnSync('sh', [scriptPath, '--hosts', '127.0.0.2', '--no-check'], { env, encoding: 'utf8' });
    expect(moved.status).toBe(0);
    expect(readFileSync(join(installRoot, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n127.0.0.2 registry.test # registry-router: registry.test\n');
    // Each change kept the file as it was: the original, then the one with the first IP.
    const backups = readdirSync(join(installRoot, 'etc'))
      .filter((name) => name.startsWith('hosts.registry-router.'))
      .map((name) => readFileSync(join(installRoot, 'etc', name), 'utf8'))
      .sort();
    expect(backups).toEqual(['127.0.0.1 localhost\n', '127.0.0.1 localhost\n127.0.0.1 registry.test # registry-router: registry.test\n']);

    // The check fails loudly when TLS does not verify: a CA that is not the router's.
    const stranger = join(work, 'stranger');
    mkdirSync(stranger);
    const otherCa = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/certs.ts', '--config', join(work, 'router.json'), '--out', join(work, 'other-certs')],
      { cwd: ROOT },
    );
    expect(otherCa.status).toBe(0);
    const foreign = served.body.replace(ca.trim(), readFileSync(join(work, 'other-certs', 'ca.crt'), 'utf8').trim());
    writeFileSync(join(work, 'foreign.sh'), foreign);
    const refused = spawnSync('sh', [join(work, 'foreign.sh')], { env: { ...env, ROOT: stranger }, encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/cannot reach https:\/\/registry\.test:\d+\/v2\/ over TLS/);

    // For skopeo by IP (the certificate names 127.0.0.1 too): the script fetched as http://127.0.0.1.
    const byIp = await fetchPlain('/download/scripts/docker-init.sh', `127.0.0.1:${new URL(httpUrl).port}`);
    writeFileSync(join(work, 'by-ip.sh'), byIp.body);
    const ip = spawnSync('sh', [join(work, 'by-ip.sh')], { env: { PATH: process.env.PATH!, ROOT: installRoot }, encoding: 'utf8' });
    expect(ip.stderr).toBe('');
    certDir = join(installRoot, 'etc/containers/certs.d', `127.0.0.1:${tlsPort}`);
    expect(readdirSync(certDir)).toEqual(['ca.crt']);
  });

  it('pushes and pulls with skopeo over https:// with the installed CA, and over http:// on the other listener', async () => {
    const image = await buildImage(join(work, 'img'), {
      tag: 'v1',
      layers: [{ randomBytes: 2 * MiB, seed: 'tls-base' }, { files: { 'etc/motd': 'over TLS\n' } }],
    });
    expect(certDir, 'the bootstrap test installs the CA used here').toBeDefined();
    // TLS verified against the CA the script installed (containers' certs.d layout).
    await copy(image.ref(), dockerRef(httpsUrl, 'team/tls', 'v1'), { destTlsVerify: true, destCertDir: certDir });
    expect(await inspectDigest(dockerRef(hosted.url, 'team/tls', 'v1'))).toBe(image.manifestDigest);
    const pulled = join(work, 'pulled-tls');
    await copy(dockerRef(httpsUrl, 'team/tls', 'v1'), `oci:${pulled}:v1`, { srcTlsVerify: true, srcCertDir: certDir });
    expect(await inspectDigest(`oci:${pulled}:v1`)).toBe(image.manifestDigest);

    // Without the CA the same pull is refused: the TLS is real.
    const untrusted = await tryCopy(dockerRef(httpsUrl, 'team/tls', 'v1'), `oci:${join(work, 'nope')}:v1`, {
      srcTlsVerify: true,
      srcCertDir: join(work, 'stranger'),
    });
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate signed by unknown authority/);

    // Plain HTTP on the first listener, same process.
    await copy(image.ref(), dockerRef(httpUrl, 'team/plain', 'v1'));
    const pulledPlain = join(work, 'pulled-plain');
    await copy(dockerRef(httpUrl, 'team/tls', 'v1'), `oci:${pulledPlain}:v1`);
    expect(await inspectDigest(`oci:${pulledPlain}:v1`)).toBe(image.manifestDigest);
    expect(await inspectDigest(dockerRef(hosted.url, 'team/plain', 'v1'))).toBe(image.manifestDigest);
  });

  it('tells the registry which scheme the client used', async () => {
    // Upload Locations come back absolute, built by the registry from Host and X-Forwarded-Proto.
    const viaTls = await new Promise<string>((done, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: tlsPort,
          method: 'POST',
          path: '/v2/team/scheme/blobs/uploads/',
          ca: readFileSync(join(certsDir, 'ca.crt')),
          servername: 'registry.test',
          headers: { host: `registry.test:${tlsPort}`, 'content-length': 0 },
        },
        (res) => {
          res.resume();
          done(String(res.headers.location));
        },
      );
      req.on('error', fail);
      req.end();
    });
    expect(viaTls).toMatch(new RegExp(`^https://registry\\.test:${tlsPort}/v2/team/scheme/blobs/uploads/`));
  });

  it('swaps certificates on SIGHUP for new connections, without dropping a download in flight', async () => {
    await sighupSwap(router, { cert: join(certsDir, 'docker.crt'), key: join(certsDir, 'docker.key') }, () => runCerts('--renew'));
  });
});

/** The certificate served on a new TLS connection to `port` that asks for `servername`. */
function servedFingerprint(port: number, servername: string, ca: Buffer): Promise<string> {
  return new Promise<string>((done, fail) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/v2/', ca, servername, agent: false, headers: { host: servername } }, (res) => {
      res.resume();
      done((res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256);
    });
    req.on('error', fail);
    req.end();
  });
}

// `bun run src/node.ts` serves through Bun.serve as src/bun.ts does, so it picks by SNI too (Bun's node:https could not).
describe.each(['node', 'bun-node', 'bun'] as const)('several certificates on one listener, picked by SNI, on %s', (runtime) => {
  it('serves each host name its own certificate, and the first one to a client that names none', async () => {
    const dir = join(work, `sni-${runtime}`);
    mkdirSync(dir);
    const sites = [
      { name: 'docker', hosts: ['registry.test'], preset: 'docker' as const, upstream: hosted.url },
      { name: 'npm', hosts: ['npm.test'], preset: 'npm' as const, upstream: hosted.url },
    ];
    writeFileSync(join(dir, 'router.json'), JSON.stringify({ sites }));
    const made = spawnSync(process.execPath, ['--import', 'tsx', 'src/certs.ts', '--config', join(dir, 'router.json'), '--out', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(made.status, made.stderr).toBe(0);
    const pair = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
    const own = await startRouter(runtime, { sites }, { quiet: true, listen: [{ certs: [pair('docker'), pair('npm')] }] });
    try {
      const ca = readFileSync(join(dir, 'ca.crt'));
      expect(await servedFingerprint(own.port, 'registry.test', ca)).toBe(fingerprintOf(readFileSync(pair('docker').cert)));
      expect(await servedFingerprint(own.port, 'npm.test', ca)).toBe(fingerprintOf(readFileSync(pair('npm').cert)));
      // No SNI (a client connecting by IP): the first certificate, which does not name 127.0.0.1 here.
      const byIp = await new Promise<string>((done, fail) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: own.port, path: '/v2/', ca, rejectUnauthorized: false, agent: false, headers: { host: 'registry.test' } },
          (res) => {
            res.resume();
            done((res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256);
          },
        );
        req.on('error', fail);
        req.end();
      });
      expect(byIp).toBe(fingerprintOf(readFileSync(pair('docker').cert)));
    } finally {
      await own.stop();
    }
  });
});

describe.each(['bun', 'bun-node', 'deno'] as const)('TLS certificates reloaded on SIGHUP by the %s adapter', (runtime) => {
  let own: RouterProcess | undefined;
  afterAll(async () => {
    await own?.stop();
  });

  it('swaps certificates for new connections without dropping a download in flight, keeps them when the files are bad, and stops on SIGTERM', async () => {
    // Its own copies of the files: the bad ones written below must not reach the other routers.
    const dir = join(work, `${runtime}-certs`);
    mkdirSync(dir);
    const pair = { cert: join(dir, 'docker.crt'), key: join(dir, 'docker.key') };
    const copyIn = () => {
      copyFileSync(join(certsDir, 'docker.crt'), pair.cert);
      copyFileSync(join(certsDir, 'docker.key'), pair.key);
    };
    copyIn();
    const site = { name: 'docker', hosts: ['127.0.0.1', 'registry.test'], preset: 'docker' as const, upstream: hosted.url };
    own = await startRouter(runtime, { sites: [site] }, { quiet: true, listen: [{}, pair] });
    await sighupSwap(own, pair, () => {
      runCerts('--renew');
      copyIn();
    });

    // Unusable files: the listener keeps serving the certificates it has, and says why in one line.
    const current = fingerprintOf(readFileSync(pair.cert));
    writeFileSync(pair.cert, 'not a certificate\n');
    const before = own.stderr().length;
    own.child.kill('SIGHUP');
    const said = await stderrAfter(own, before, /SIGHUP, kept the old certificates/);
    expect(said.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^registry-router: SIGHUP, kept the old certificates of 127\\.0\\.0\\.1:${own.ports[1]}: ` +
            `cannot use TLS certificate ${pair.cert.replace(/[.]/g, '\\.')} with key `,
        ),
      ),
    ]);
    expect(await freshFingerprint(own.ports[1]!, readFileSync(join(certsDir, 'ca.crt')))).toBe(current);

    // SIGTERM stops the listeners in use (the replacements) and exits.
    const stopped = Date.now();
    expect(await own.stop()).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(5000);
    own = undefined;
  });
});
