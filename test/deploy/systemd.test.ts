/**
 * deploy/registry-router.service: what `systemd-analyze verify` accepts (it also checks that the
 * ExecStart/ExecReload binaries exist, so the unit is verified with the single executable built
 * here in place of /usr/local/bin/registry-router), that its ExecStartPre line runs that executable
 * on a config, and the promises the README makes of it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shipBinaries } from '../ship/build.ts';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const INSTALLED = '/usr/local/bin/registry-router';
let unit: string;
let dir: string;
let executable: string;

beforeAll(async () => {
  unit = await readFile(join(root, 'deploy', 'registry-router.service'), 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'rr-systemd-'));
  executable = (await shipBinaries()).path('linux-x64');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The unit's `Key=value` lines of one key. */
const values = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]);

describe('the systemd unit', () => {
  it('passes systemd-analyze verify', async () => {
    const path = join(dir, 'registry-router.service');
    await writeFile(path, unit.replaceAll(INSTALLED, executable));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', path]);
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });

  it('reloads with SIGHUP, restarts on failure, checks the config before it starts', () => {
    expect(values('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(values('Restart')).toEqual(['on-failure']);
    expect(values('ExecStartPre')[0]).toMatch(/ check --config /);
    expect(values('ExecStart')).toEqual([`${INSTALLED} serve --config /etc/registry-router/router.json`]);
  });

  it('runs the single executable: its ExecStartPre line, on a config, exits 0 with nothing in the environment', async () => {
    const config = join(dir, 'router.json');
    await writeFile(
      config,
      JSON.stringify({
        sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: 'http://127.0.0.1:8082', write: 'http://127.0.0.1:8083' } }],
      }),
    );
    const [command, ...args] = values('ExecStartPre')[0]!.replace('/etc/registry-router/router.json', config).split(' ');
    expect(command).toBe(INSTALLED);
    const { stdout, stderr } = await run(executable, args, { env: {} });
    expect(`${stdout}${stderr}`).toContain(`${config} is fine for bun-node`);
  });

  it('runs as its own user, binds 80/443 without root, and is locked down', () => {
    expect(values('User')).toEqual(['registry-router']);
    expect(values('AmbientCapabilities')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(values('CapabilityBoundingSet')).toEqual(['CAP_NET_BIND_SERVICE']);
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) expect(values(key), key).toEqual(['yes']);
    expect(values('ProtectSystem')).toEqual(['strict']);
    // V8 writes executable memory: this would kill the process at start.
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
  });

  it('the sysusers file creates that user', async () => {
    const sysusers = await readFile(join(root, 'deploy', 'registry-router.sysusers'), 'utf8');
    expect(sysusers).toMatch(/^u registry-router /m);
  });
});
