/**
 * The npm scripts as a user types them, run by the real npm: stdout holds only the command's own
 * output (the JSON of `import-nginx`, the access log of `npm start`), because the repository's
 * .npmrc sends npm's `> name script` banner to stderr (`json=true`: npm 11 moves run-script banners
 * to stderr in JSON mode). And `npx registry-router`, the package's bin, in the checkout.
 */
import { spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { freePort } from '../support/ports.ts';
import { DOCKER_SITE, files, NODE, ROOT, run } from './support.ts';

const fixture = join(ROOT, 'test/import/fixtures/original.conf');

describe("npm scripts print only the command's output on stdout", () => {
  it("`npm run import-nginx -- FILE > router.json` is the JSON the command prints; npm's banner goes to stderr", async () => {
    const viaNpm = await run(['npm'], ['run', 'import-nginx', '--', 'test/import/fixtures/original.conf']);
    const direct = await run(NODE, ['import-nginx', fixture]);
    expect(viaNpm.code).toBe(0);
    expect(viaNpm.stdout).toBe(direct.stdout);
    expect(JSON.parse(viaNpm.stdout)).toHaveProperty('sites');
    expect(viaNpm.stderr).toContain(`> ${pkg.name}@${pkg.version} import-nginx\n`);
  });

  it('`npm run route` prints the explanation alone', async () => {
    const dir = files({ 'router.json': JSON.stringify({ sites: [DOCKER_SITE] }) });
    const { code, stdout } = await run(['npm'], ['run', 'route', '--', '--config', join(dir, 'router.json'), 'GET', 'http://idocker.io/v2/']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^request {3}GET http:\/\/idocker\.io\/v2\/\n/);
  });

  it('`npm start`: stdout is the access log, one JSON line per request; the start lines (on stderr) point at `npm run demo`', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    npm.stdout!.on('data', (chunk) => (stdout += chunk));
    npm.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise((done) => npm.once('exit', done));
    try {
      for (let i = 0; i < 400 && !stderr.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(stderr).toContain('to try the router without Nexus: npm run demo\n');
      const answer = await fetch(`http://127.0.0.1:${port}/v2/`);
      expect(answer.status).toBe(421);
      await answer.arrayBuffer();
      for (let i = 0; i < 100 && !stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      npm.kill('SIGTERM');
      await exited;
    }
    // Every line an access-log entry (fetch repeats a request answered 421 once, on a new connection).
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.length, stdout).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ method: 'GET', path: '/v2/', status: 421 });
    expect(stderr).toContain(`> ${pkg.name}@${pkg.version} start\n`);
  });

  it('`registry-router` on the PATH: a symlink to the bundle runs from any folder', async () => {
    const bin = files({});
    symlinkSync(join(ROOT, 'dist/node.mjs'), join(bin, 'registry-router'));
    const { code, stdout } = await run(['registry-router'], ['import-nginx', fixture], { cwd: tmpdir(), env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toHaveProperty('sites');
  });

  it('`npx registry-router` in the checkout runs the built bin, nothing else on stdout', async () => {
    const { code, stdout } = await run(['npx'], ['registry-router', '--version']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${pkg.version}\n`);
  });
});
