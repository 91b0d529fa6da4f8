/**
 * `.ci/run` is the README's "whole suite on a fresh machine" command, and people run it on hosts
 * where their own nginx serves traffic. It must install without starting services and stop nothing
 * it did not start (issue 19, item 6).
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** Every file under `dir` (recursively) whose name ends in one of `suffixes`. */
async function files(dir: string, suffixes: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path, suffixes)));
    else if (suffixes.some((s) => entry.name.endsWith(s))) out.push(path);
  }
  return out;
}

// Stopping by name or through the service manager reaches processes that are not ours. The words are
// joined at run time so that this file, which only looks for them, does not read as a stopper itself.
const byName = ['p' + 'kill', 'kill' + 'all'].join('|');
const STOPS_OTHERS = new RegExp(`\\b(${byName})\\b|${'system' + 'ctl'}\\s+(stop|restart|kill)|service\\s+\\S+\\s+stop`);

describe('.ci/run', () => {
  it('passes shellcheck', async () => {
    await run('shellcheck', [join(root, '.ci', 'run')]);
  });

  it('holds service starts back while apt installs, and removes its policy afterwards', async () => {
    const script = await readFile(join(root, '.ci', 'run'), 'utf8');
    const install = script.indexOf('apt-get install');
    const policy = script.indexOf('exit 101');
    expect(policy, 'a policy-rc.d that refuses starts').toBeGreaterThan(0);
    expect(policy).toBeLessThan(install);
    expect(script.slice(install)).toMatch(/rm -f "\$policy"/);
  });

  it('neither it nor any test, bench or script stops processes by name or through the service manager', async () => {
    const paths = [join(root, '.ci', 'run'), ...(await files(join(root, 'test'), ['.ts', '.sh'])), ...(await files(join(root, 'bench'), ['.ts', '.sh']))];
    const offenders: string[] = [];
    for (const path of paths) {
      const text = await readFile(path, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (STOPS_OTHERS.test(line)) offenders.push(`${path}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
