import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

/** The command line as an operator starts it: the bundle `npm run build` made (vitest's global setup builds it). */
export const NODE = [process.execPath, join(ROOT, 'dist/node.mjs')];
export const BUN_NODE = [join(BIN, 'bun'), 'run', join(ROOT, 'src/node.ts')];
export const DENO = [join(BIN, 'deno'), 'run', '--allow-net', '--allow-read', '--allow-env', join(ROOT, 'src/deno.ts')];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command to its end without blocking this process (probes talk to origins served from here). */
export function run(command: readonly string[], args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command[0]!,
      [...command.slice(1), ...args],
      // Not the npm script environment of the test run itself: these are commands typed in a shell.
      { cwd: options.cwd ?? ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env }, timeout: 30_000 },
      (error, stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A temp folder holding the given files (text as written, so JSONC stays JSONC). */
export function files(entries: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rr-cli-'));
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, name), text);
  return dir;
}

export const DOCKER_SITE = {
  name: 'docker',
  hosts: ['idocker.io'],
  preset: 'docker' as const,
  upstreams: { read: 'http://nexus:8081/repository/docker-group/', write: 'http://nexus:8081/repository/docker-hosted/' },
};
