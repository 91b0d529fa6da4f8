/**
 * The npm package: `npm pack` holds only what runs (the bundle, package.json, README), its
 * dependencies are exactly the packages the bundle imports (no build or test tools), and `npm
 * install -g` of the tarball into a temporary prefix on this Node 20 gives a `registry-router`
 * command that runs with nothing but node on the PATH.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { ROOT } from './build.ts';
import { runBare } from './support.ts';

const NODE_PATH = `${dirname(process.execPath)}:/usr/bin:/bin`;
let work: string;
let tarball: string;
let packed: Array<{ path: string }>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-ship-npm-'));
  // The repo's .npmrc has json=true: stdout is npm pack's JSON (prepack builds dist/node.mjs first).
  const pack = await runBare(['npm', 'pack', '--pack-destination', work], { env: { PATH: NODE_PATH, HOME: process.env.HOME ?? '/root' }, timeout: 120_000 });
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, info!.filename);
  packed = info!.files;
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** The packages an esbuild bundle imports (`import … from "x";` lines, `import("x")`), by package name. */
function importedPackages(bundle: string): string[] {
  const specifiers = [...bundle.matchAll(/^import\s[^;]*?from\s*"([^"]+)";|\bimport\("([^"]+)"\)/gm)]
    .map((m) => (m[1] ?? m[2])!)
    .filter((s) => !s.startsWith('.'));
  const names = specifiers
    .filter((s) => !s.startsWith('node:'))
    .map((s) =>
      s
        .split('/')
        .slice(0, s.startsWith('@') ? 2 : 1)
        .join('/'),
    );
  return [...new Set(names)].sort();
}

describe('the npm package', () => {
  it('holds the bundle, package.json and the README: no sources, tests or bench', () => {
    expect(packed.map((file) => file.path).sort()).toEqual(['README.md', 'dist/node.mjs', 'package.json']);
  });

  it('depends on exactly what the bundle imports (esbuild and tsx build it; they are devDependencies)', async () => {
    const bundle = await readFile(join(ROOT, 'dist', 'node.mjs'), 'utf8');
    expect(Object.keys(pkg.dependencies).sort()).toEqual(importedPackages(bundle));
  });

  it('installs with npm install -g on Node 20 with its runtime dependencies only; registry-router runs with only node on the PATH', async () => {
    const prefix = join(work, 'prefix');
    // Outside the checkout (the repo's .npmrc is not the user's), in the user's environment (npm's registry and
    // its CA settings) without this test run's npm_* variables.
    const install = await runBare(['npm', 'install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: work,
      env: Object.fromEntries(Object.entries(process.env).filter(([name, value]) => !name.startsWith('npm_') && value !== undefined)) as Record<string, string>,
      timeout: 180_000,
    });
    expect(install.code, install.stderr).toBe(0);
    const installed = join(prefix, 'lib', 'node_modules', 'registry-router');
    const modules = (await readdir(join(installed, 'node_modules'))).filter((name) => !name.startsWith('.'));
    for (const dependency of Object.keys(pkg.dependencies)) expect(modules).toContain(dependency.split('/')[0]);
    for (const tool of ['esbuild', '@esbuild', 'tsx', 'typescript', 'vitest', 'bun', 'deno', 'verdaccio', 'wrangler']) expect(modules).not.toContain(tool);
    expect((await readdir(installed)).sort()).toEqual(['README.md', 'dist', 'node_modules', 'package.json']);

    const command = join(prefix, 'bin', 'registry-router');
    const env = { PATH: dirname(process.execPath) };
    expect(await runBare([command, '--version'], { env, cwd: work })).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const config = join(work, 'router.json');
    await writeFile(
      config,
      JSON.stringify({
        sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://127.0.0.1:8082', write: 'http://127.0.0.1:8083' } }],
      }),
    );
    const check = await runBare([command, 'check', '--config', config], { env, cwd: work });
    expect(check.code, check.stderr).toBe(0);
    expect(`${check.stdout}${check.stderr}`).toContain(`${config} is fine for node (1 site: docker; listening on http://0.0.0.0:8080)`);
    // certs loads @peculiar/x509 and reflect-metadata lazily: both installed.
    const certs = await runBare([command, 'certs', '--config', config, '--out', join(work, 'certs')], { env, cwd: work });
    expect(certs.code, certs.stderr).toBe(0);
  }, 180_000);
});
